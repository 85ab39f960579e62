import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { defaultMaxRunning, isLoopbackHost, type AgentConfig } from '../config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { discoverDevices } from './devices/discovery.js';
import { ControlPlaneRefusedError, ControlPlaneUnreachableError, HttpControlPlaneLink } from './http-control-plane-link.js';
import { defaultLauncherCount, LauncherPool } from './launcher/launcher-pool.js';
import { agentOptions } from './agent-options.js';
import { LocalAgent } from './local-agent.js';
import { startLogServer } from './log-server.js';

/** How long a long-poll for work waits on the server before answering empty. */
const POLL_WAIT_MS = 25_000;
/** Backoff between failed polls or registrations: from this, doubling, up to the max. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export interface RunningRemoteAgent {
  nodeId: string;
  /** Where the control plane reads this node's job logs. */
  logUrl: string;
  /** Stops polling; running attempts are killed and their ends reported (their jobs retry elsewhere). */
  stop(): Promise<void>;
}

/**
 * `gpuq agent`: this machine's GPUs as a node of a cluster whose control plane
 * runs elsewhere. The same LocalAgent as `gpuq up` runs the jobs (launcher
 * pool, pinned process groups, batched reports, heartbeats); here it talks to
 * the control plane over HTTP (http-control-plane-link.ts), gets its work
 * through a long-poll (WorkPoller), and serves its jobs' logs (log-server.ts).
 *
 * Losing the control plane: the agent keeps its jobs running and keeps
 * trying. Past `graceSeconds` without getting through it kills them (they end
 * `lost`, reported once it is back). When it gets through again, whatever the
 * control plane reclaimed meanwhile is killed and nothing of it is reported
 * (LocalAgent's heartbeat and reconcile); if its session was dropped, it
 * registers again and keeps what is still live.
 */
export async function startRemoteAgent(config: AgentConfig, options: { clock?: Clock; log?: Logger; random?: () => number } = {}): Promise<RunningRemoteAgent> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const log = options.log ?? pino({ level: config.logLevel }, pino.destination(2));
  const devices = await discoverDevices({ fakeGpus: config.fakeGpus > 0 ? config.fakeGpus : undefined, nodeId: config.nodeName, now: () => clock.now() });
  for (const w of devices.warnings) log.warn({ warning: w }, 'device discovery');

  let agent: LocalAgent | null = null;
  const secret = randomBytes(32).toString('hex');
  const logServer = await startLogServer({ host: config.listen.host, port: config.listen.port, dataDir: config.dataDir, secret, isRunning: (id) => agent?.isRunning(id) ?? false, log: log.child({ component: 'log-server' }) });
  const logUrl = `http://${urlHost(config.advertiseHost ?? advertisedHost(config.listen.host))}:${logServer.address.port}`;
  if (isLoopbackHost(config.listen.host) && config.servers.some((s) => !isLoopbackHost(new URL(s).hostname))) {
    log.warn({ listen: `${config.listen.host}:${logServer.address.port}` }, 'the log server listens on loopback only: servers on other machines cannot read this node\'s job logs (use --listen 0.0.0.0:PORT)');
  }
  const link = new HttpControlPlaneLink({ servers: config.servers, token: config.token, logEndpoint: { url: logUrl, secret }, clock });
  const launcher = await LauncherPool.start(defaultLauncherCount(os.availableParallelism()), log.child({ component: 'launcher' }));
  const local = new LocalAgent(
    link,
    clock,
    log.child({ component: 'agent', nodeId: config.nodeName }),
    agentOptions(config, {
      labels: config.labels,
      maxRunning: config.maxRunning ?? defaultMaxRunning(devices.devices.length),
      devices,
      launcher,
      // Pool replica hosts talk to the server this agent uses now first, then the others.
      apiUrls: () => [link.server, ...config.servers.filter((s) => s !== link.server)],
    }),
  );
  agent = local;

  try {
    // An agent may start before its control plane: wait for it, but give up at once on a refusal (a bad token).
    for (let wait = RETRY_MIN_MS; ; wait = Math.min(wait * 2, RETRY_MAX_MS)) {
      try {
        await local.start();
        break;
      } catch (err) {
        if (!(err instanceof ControlPlaneUnreachableError)) throw err;
        log.warn({ err: err.message, retryInMs: wait }, 'cannot register with the control plane yet; retrying');
        await delay(wait);
      }
    }
  } catch (err) {
    await launcher.stop();
    await logServer.close();
    throw err;
  }
  log.info({ nodeId: config.nodeName, server: link.server, logUrl, devices: devices.devices.length, simulated: devices.source === 'fake' }, 'agent registered');

  const poller = new WorkPoller(link, local, log.child({ component: 'work' }), random);
  poller.start();

  const graceMs = config.graceSeconds * 1000;
  const graceTimer = setInterval(() => {
    const since = link.unreachableSince;
    if (since === null || clock.now() - since < graceMs || local.runningCount === 0) return;
    const killing = local.abandon(`killed by its agent: the control plane was unreachable for more than ${config.graceSeconds} s`);
    if (killing > 0) log.error({ attempts: killing, graceSeconds: config.graceSeconds }, 'the control plane has been unreachable for longer than the grace period: killing this node\'s jobs (they run elsewhere)');
  }, Math.max(100, Math.min(1000, graceMs / 4)));
  graceTimer.unref();

  let stopping: Promise<void> | null = null;
  return {
    nodeId: config.nodeName,
    logUrl,
    stop() {
      stopping ??= (async () => {
        clearInterval(graceTimer);
        await poller.stop();
        await local.stop();
        await launcher.stop();
        await logServer.close();
      })();
      return stopping;
    },
  };
}

/**
 * The agent's end of the work long-poll: fetches batches of run and cancel
 * messages and hands them to the agent, acknowledging each batch with the
 * next poll (delivery is at least once; LocalAgent ignores repeats). When
 * the session is gone (the server restarted, the agent was away too long,
 * or the link moved to another server) the agent registers again. Failures
 * back off with jitter, so agents of a cluster do not return in step.
 */
class WorkPoller {
  private stopped = false;
  private readonly abort = new AbortController();
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly link: HttpControlPlaneLink,
    private readonly agent: LocalAgent,
    private readonly log: Logger,
    private readonly random: () => number,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let ack: number | undefined;
    let wait = RETRY_MIN_MS;
    while (!this.stopped) {
      try {
        const batch = await this.link.fetchWork(this.agent.nodeId, ack, POLL_WAIT_MS, this.abort.signal);
        ack = batch.seq;
        if (batch.run.length > 0) this.agent.run(batch.run);
        const byReason = new Map<string, number[]>();
        for (const c of batch.cancel) byReason.set(c.reason, [...(byReason.get(c.reason) ?? []), c.attemptId]);
        for (const [reason, ids] of byReason) this.agent.cancel(ids, reason);
        wait = RETRY_MIN_MS;
        continue;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof ControlPlaneRefusedError && err.code === 'AGENT_SESSION_EXPIRED') {
          ack = undefined;
          try {
            await this.agent.reconnect();
            this.log.info({ server: this.link.server }, 'registered again (the previous session was gone)');
            wait = RETRY_MIN_MS;
            continue;
          } catch (again) {
            this.log.warn({ err: again instanceof Error ? again.message : again }, 'registering again failed');
          }
        } else {
          this.log.warn({ err: err instanceof Error ? err.message : err }, 'polling for work failed');
        }
      }
      // Full jitter: between half the backoff and all of it.
      await delay(wait * (0.5 + this.random() / 2), undefined, { signal: this.abort.signal }).catch(() => {});
      wait = Math.min(wait * 2, RETRY_MAX_MS);
    }
  }
}

/** What servers should connect to: the listen address, unless it is a wildcard (then this machine's name). */
function advertisedHost(listenHost: string): string {
  return listenHost === '0.0.0.0' || listenHost === '::' ? os.hostname() : listenHost;
}

function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
