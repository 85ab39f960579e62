import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { argvOf } from '../core/job-spec.js';
import type { Device, HostMemoryReport, NodeRegistration } from '../core/types.js';
import type { AssignedAttempt, EndReport, StartReport } from '../store/store.js';
import type { AgentControl, ControlPlaneLink } from './agent-link.js';
import { TelemetrySampler, type DeviceSource } from './devices/discovery.js';
import { attemptLogPath } from './log-files.js';
import { AttemptUsage } from './attempt-usage.js';
import type { FakeDeviceLoad } from './devices/fake-gpus.js';
import type { ExecResult, RunningAttempt } from './executor.js';
import type { AttemptLauncher } from './launcher/protocol.js';
import { replicaLaunch } from './pool-replica-launch.js';
import { attemptMarker, killAttemptProcesses } from './process-tree.js';
import { RecentIds } from './recent-ids.js';

/** How many finished attempt ids an agent remembers, to drop repeated hand-overs of them. */
const FINISHED_MEMORY = 10_000;

export interface AgentOptions {
  nodeId: string;
  hostname: string;
  labels: Record<string, string>;
  cpus: number;
  memoryMb: number;
  /** Most exec attempts run at once on this node (the scheduler keeps to it; see NodeInfo.maxRunning). */
  maxRunning: number;
  dataDir: string;
  heartbeatMs: number;
  telemetryMs: number;
  logCapBytes: number;
  killGraceMs: number;
  devices: DeviceSource;
  launcher: AttemptLauncher;
  /** The control plane's base URLs, for pool replica hosts (agent/pool-replica-launch.ts). */
  apiUrls?: () => readonly string[];
}

/**
 * Runs attempts on this machine: one process group per attempt, pinned to its
 * GPUs. Reports starts and ends to the control plane in batches (one store
 * transaction per event-loop turn, not one per attempt), renews leases with
 * heartbeats, and kills any process whose attempt the control plane no longer
 * considers live (reclaimed while this agent was away).
 *
 * Reclaimed attempts report nothing. An attempt the control plane no longer
 * lists as live (heartbeat, re-registration) is killed and whatever it has
 * not reported yet is dropped; and after a gap in contact longer than half a
 * lease (a paused process, a cut network) the agent asks which attempts are
 * still live before it sends any report, so results of attempts reclaimed
 * meanwhile are never sent. (Were one sent, the store would refuse it: reports
 * are fenced by attempt. Not sending it keeps a stale result off the wire.)
 *
 * Each attempt runs at most once here: hand-overs of an attempt this agent is
 * running or has finished with are ignored (over HTTP they arrive at least once).
 */
export class LocalAgent implements AgentControl {
  readonly nodeId: string;
  /** This agent's part of its attempts' process markers: the same across its restarts, unlike any other agent's on the machine. */
  private readonly agentKey: string;
  private readonly running = new Map<number, RunningAttempt>();
  private readonly cancelReasons = new Map<number, string>();
  /** Attempts killed because the control plane was out of reach too long: they end `lost`, with this reason. */
  private readonly lostReasons = new Map<number, string>();
  /** Running attempts killed because the control plane no longer holds them live: nothing of theirs is reported. */
  private readonly reclaimed = new Set<number>();
  private readonly finished = new RecentIds(FINISHED_MEMORY);
  private started: StartReport[] = [];
  private ended: EndReport[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Heartbeats sent and not answered yet. */
  private readonly beats = new Set<Promise<unknown>>();
  private sampler: TelemetrySampler | null = null;
  /** GPU accounting of the running attempts (attempt-usage.ts): live with the telemetry, final with their ends. */
  private readonly usage = new AttemptUsage();
  private incarnation = '';
  /** When the last heartbeat that renewed leases was sent (this agent's clock). */
  private lastRenewedAt = 0;
  /** Past this long without a renewal, reports wait for a liveness check (half a lease once the control plane says how long one is). */
  private staleAfterMs: number;

  constructor(
    private readonly link: ControlPlaneLink,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: AgentOptions,
  ) {
    this.nodeId = options.nodeId;
    this.agentKey = agentKeyOf(options.nodeId, options.dataDir);
    this.staleAfterMs = 2 * options.heartbeatMs;
  }

  /**
   * Registers the node. Attempts the store still holds live on this node
   * belong to an earlier run of this agent that died with its processes'
   * parent: their orphaned processes are killed and the attempts reported
   * lost, so their jobs retry by policy.
   */
  async start(): Promise<void> {
    const devices = this.options.devices.devices;
    this.incarnation = `${process.pid}-${Math.round(this.clock.now())}`;
    const sentAt = this.clock.now();
    const { liveAttemptIds, leaseMs, idlePolicy } = await this.link.register(this.nodeInfo(devices));
    this.noteLease(sentAt, leaseMs);
    if (idlePolicy) this.usage.setPolicy(idlePolicy);
    // Reported lost here: a hand-over of one of them that was already on its way must not run it.
    for (const id of liveAttemptIds) this.finished.add(id);
    if (liveAttemptIds.length > 0) {
      const killed = (await killAttemptProcesses(liveAttemptIds.map((id) => attemptMarker(this.agentKey, id)))).length;
      const now = this.clock.now();
      await this.link.reportEnded(
        liveAttemptIds.map((id) => ({
          attemptId: id,
          end: { state: 'lost', retryable: true, reason: 'lost when gpuq restarted on this node' },
          exitCode: null,
          signal: null,
          endedAt: now,
        })),
      );
      this.log.warn({ attempts: liveAttemptIds.length, orphanProcessesKilled: killed }, 'reclaimed attempts of the previous run of this agent');
    }
    this.sampler = new TelemetrySampler(this.options.devices, this.options.telemetryMs, (samples) => {
      // With each sample: its running attempts' GPU figures so far and idle flags.
      this.usage.add(samples);
      void this.beat(this.nodeId, [], samples, this.usage.live(this.clock.now())).catch((e: unknown) => this.log.error({ err: e }, 'telemetry report failed'));
    }, () => this.deviceLoads(), { now: () => this.clock.now(), onError: (e) => this.log.warn({ err: e }, 'telemetry sample failed') });
    this.sampler.start();
    void this.sampler.sampleNow();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /**
   * Registers again, keeping what runs: the control plane lost this agent's
   * session (it was cut off or paused past the session's idle time, or its
   * server restarted) but the processes here are fine. Attempts the store
   * still holds live carry on; those reclaimed meanwhile are killed and their
   * reports dropped.
   */
  async reconnect(): Promise<void> {
    const asked = this.reportableIds();
    const sentAt = this.clock.now();
    const { liveAttemptIds, leaseMs, idlePolicy } = await this.link.register(this.nodeInfo(this.options.devices.devices));
    this.noteLease(sentAt, leaseMs);
    if (idlePolicy) this.usage.setPolicy(idlePolicy);
    this.reconcile(asked, new Set(liveAttemptIds));
  }

  /**
   * Kills every running attempt: the control plane has been out of reach for
   * longer than the agent's grace period, so their leases are gone or going
   * and their jobs will run elsewhere. They end `lost`; the ends are reported
   * once the control plane is back, if it still holds them live then.
   * Returns how many it began to kill (none the second time).
   */
  abandon(reason: string): number {
    let n = 0;
    for (const [id, r] of this.running) {
      if (this.reclaimed.has(id) || this.lostReasons.has(id)) continue;
      this.lostReasons.set(id, reason);
      r.kill('shutdown');
      n++;
    }
    return n;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** Whether an attempt's process runs here now (its log may still grow). */
  isRunning(attemptId: number): boolean {
    return this.running.has(attemptId);
  }

  run(attempts: AssignedAttempt[]): void {
    for (const a of attempts) {
      // Running or finished with here: a repeated hand-over (at least once over HTTP), never a second run.
      if (this.running.has(a.attemptId) || this.finished.has(a.attemptId)) continue;
      if (a.spec.type === 'noop') {
        this.finished.add(a.attemptId);
        const now = this.clock.now();
        this.ended.push({ attemptId: a.attemptId, startedAt: now, end: { state: 'succeeded', retryable: false, reason: 'noop' }, exitCode: null, signal: null, endedAt: now });
        continue;
      }
      this.spawn(a);
    }
    this.scheduleFlush();
  }

  cancel(attemptIds: number[], reason: string): void {
    for (const id of attemptIds) {
      const r = this.running.get(id);
      if (!r) continue;
      this.cancelReasons.set(id, reason);
      r.kill('cancel');
    }
  }

  /** Stops the agent: running attempts are killed and their ends reported (their jobs retry by policy). */
  async stop(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.sampler?.stop();
    const all = [...this.running.values()];
    for (const r of all) r.kill('shutdown');
    await Promise.all(all.map((r) => r.done));
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing;
    // A heartbeat still in flight marks the node up where it lands: let it land before the leave, not after.
    await Promise.allSettled([...this.beats]);
    // Until it registers again, nothing should be placed on a node nobody runs.
    await this.link.leave(this.nodeId, this.incarnation).catch((e: unknown) => this.log.warn({ err: e }, 'could not tell the control plane this node is leaving; it is marked down when its heartbeats stop'));
  }

  private spawn(a: AssignedAttempt): void {
    const dir = path.join(this.options.dataDir, 'jobs', String(a.jobId));
    const logPath = attemptLogPath(this.options.dataDir, a.jobId, a.number);
    const { argv, env } = replicaLaunch(argvOf(a.spec), a.spec.env, a.poolCredential, this.options.apiUrls?.() ?? []);
    const r = this.options.launcher.startAttempt({
      attemptId: a.attemptId,
      jobId: a.jobId,
      attemptNumber: a.number,
      nodeId: this.nodeId,
      agentKey: this.agentKey,
      argv,
      env,
      cwd: a.spec.cwd,
      devices: a.devices,
      timeoutMs: a.spec.timeoutSeconds === undefined ? undefined : a.spec.timeoutSeconds * 1000,
      logPath,
      artifactsDir: path.join(dir, `artifacts-${a.number}`),
      logCapBytes: this.options.logCapBytes,
      killGraceMs: this.options.killGraceMs,
    });
    this.running.set(a.attemptId, r);
    r.started.then(
      (s) => {
        this.started.push({ attemptId: a.attemptId, pid: s.pid, logPath, startedAt: s.startedAt });
        if (this.running.has(a.attemptId)) this.usage.start(a.attemptId, a.devices, s.startedAt, a.spec.env);
        this.scheduleFlush();
      },
      () => {},
    );
    void r.done.then((res) => this.onEnd(a.attemptId, res));
  }

  private onEnd(attemptId: number, res: ExecResult): void {
    this.running.delete(attemptId);
    this.finished.add(attemptId);
    const reason = this.cancelReasons.get(attemptId);
    this.cancelReasons.delete(attemptId);
    const lost = this.lostReasons.get(attemptId);
    this.lostReasons.delete(attemptId);
    const gpuUsage = this.usage.finish(attemptId, res.endedAt);
    if (this.reclaimed.delete(attemptId)) {
      // Reclaimed: the control plane has ended it already, and its job may run elsewhere. Nothing to report.
      this.dropReports(attemptId);
      this.log.info({ attemptId }, 'reclaimed attempt ended here: its end is not reported');
      return;
    }
    // A process that ended before its start was sent (the launcher holds starts back briefly for this): report both at once.
    const unsent = this.started.findIndex((s) => s.attemptId === attemptId);
    const start = unsent >= 0 ? this.started.splice(unsent, 1)[0]! : undefined;
    this.ended.push({
      attemptId,
      ...(start !== undefined ? { startedAt: start.startedAt, pid: start.pid, logPath: start.logPath } : {}),
      end:
        lost !== undefined
          ? { state: 'lost', retryable: true, reason: lost }
          : { state: res.state, retryable: res.retryable, reason: reason && res.state === 'cancelled' ? `cancelled: ${reason}` : res.reason },
      exitCode: res.exitCode,
      signal: res.signal,
      endedAt: res.endedAt,
      ...(res.output !== undefined ? { output: res.output } : {}),
      ...(gpuUsage !== undefined ? { gpuUsage } : {}),
    });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flushing.then(() => this.flush());
    });
  }

  /**
   * Sends buffered starts, then ends, each as one batch. Starts go first so an attempt is never ended before it is marked running.
   * After a gap in contact, a heartbeat first says which attempts are still live, and the reports of the others are dropped.
   */
  private async flush(): Promise<void> {
    if (this.started.length === 0 && this.ended.length === 0) return;
    if (this.clock.now() - this.lastRenewedAt > this.staleAfterMs && !(await this.heartbeat())) {
      this.retryFlush();
      return;
    }
    const started = this.started;
    const ended = this.ended;
    if (started.length === 0 && ended.length === 0) return;
    this.started = [];
    this.ended = [];
    try {
      if (started.length > 0) {
        const results = await this.link.reportStarted(started);
        // Refused: the attempt was reclaimed before it started. The next heartbeat would find out; this one finds out now.
        if (results.some((r) => !r.accepted)) void this.heartbeat();
      }
      if (ended.length > 0) await this.link.reportEnded(ended);
    } catch (e) {
      // In process, a failure here is the store failing; over HTTP, the control plane out of reach. Keep the reports and retry.
      this.log.error({ err: e }, 'reporting attempts failed; retrying');
      this.started = started.concat(this.started);
      this.ended = ended.concat(this.ended);
      this.retryFlush();
    }
  }

  private retryFlush(): void {
    setTimeout(() => this.scheduleFlush(), 500).unref();
  }

  /**
   * Renews the leases of every attempt this agent holds (running, or with a
   * report not sent yet), and kills and forgets those the control plane no
   * longer holds live. False when the control plane could not be reached.
   */
  /** A heartbeat through the link, tracked until answered (stop waits for those in flight). */
  private beat(...args: Parameters<ControlPlaneLink['heartbeat']>): ReturnType<ControlPlaneLink['heartbeat']> {
    const p = this.link.heartbeat(...args);
    this.beats.add(p);
    void p.finally(() => this.beats.delete(p)).catch(() => undefined);
    return p;
  }

  private async heartbeat(): Promise<boolean> {
    const ids = this.reportableIds();
    const sentAt = this.clock.now();
    try {
      const { liveAttemptIds } = await this.beat(this.nodeId, ids, [], [], hostMemory());
      this.lastRenewedAt = Math.max(this.lastRenewedAt, sentAt);
      this.reconcile(ids, new Set(liveAttemptIds));
      return true;
    } catch (e) {
      this.log.error({ err: e }, 'heartbeat failed');
      return false;
    }
  }

  /** Of the attempts `asked` about, those not `live` at the control plane were reclaimed: their processes are killed and their reports dropped. */
  private reconcile(asked: number[], live: Set<number>): void {
    for (const id of asked) {
      if (live.has(id)) continue;
      if (this.dropReports(id)) this.log.info({ attemptId: id }, 'reclaimed attempt ended here: its end is not reported');
      const r = this.running.get(id);
      if (r && !this.reclaimed.has(id)) {
        this.log.warn({ attemptId: id }, 'attempt is no longer live at the control plane (reclaimed); killing it');
        this.reclaimed.add(id);
        r.kill('cancel');
      }
    }
  }

  /** Attempts the control plane should hear about: running here, or with a start or end not reported yet. */
  private reportableIds(): number[] {
    const ids = new Set(this.running.keys());
    for (const s of this.started) ids.add(s.attemptId);
    for (const e of this.ended) ids.add(e.attemptId);
    return [...ids];
  }

  /** Forgets the unsent reports of an attempt; true when one was its end. */
  private dropReports(attemptId: number): boolean {
    const ends = this.ended.length;
    this.started = this.started.filter((s) => s.attemptId !== attemptId);
    this.ended = this.ended.filter((e) => e.attemptId !== attemptId);
    return this.ended.length < ends;
  }

  /**
   * A registration tells which attempts were live when it was sent, as a heartbeat does: reports may go out
   * without another check for half a lease (the margin within which a lease cannot have run out unnoticed).
   */
  private noteLease(sentAt: number, leaseMs: number | undefined): void {
    this.lastRenewedAt = Math.max(this.lastRenewedAt, sentAt);
    if (leaseMs !== undefined) this.staleAfterMs = leaseMs / 2;
  }

  /** What holds each device now, for simulated telemetry: the running attempts' scripted loads; one not started yet is plainly busy. */
  private deviceLoads(): Map<number, FakeDeviceLoad> {
    const loads = this.usage.loads();
    for (const r of this.running.values()) for (const d of r.devices) if (!loads.has(d)) loads.set(d, { startedAt: this.clock.now(), script: null });
    return loads;
  }

  private nodeInfo(devices: Device[]): NodeRegistration {
    const labels: Record<string, string> = { ...this.options.labels, hostname: this.options.hostname };
    const first = devices[0];
    if (first) {
      labels['gpu-model'] = first.name;
      labels['gpu-simulated'] = String(first.simulated);
    }
    return {
      id: this.nodeId,
      hostname: this.options.hostname,
      labels,
      cpus: this.options.cpus,
      memoryMb: this.options.memoryMb,
      maxRunning: this.options.maxRunning,
      devices,
      incarnation: this.incarnation,
      lastHeartbeatAt: this.clock.now(),
      state: 'up',
    };
  }
}

/** An agent's marker key: its node name and data directory, hashed (short, and free of the characters a marker uses). */
export function agentKeyOf(nodeId: string, dataDir: string): string {
  return createHash('sha256').update(`${nodeId}\0${path.resolve(dataDir)}`).digest('hex').slice(0, 16);
}

/** This host's memory now, in MiB: its total, and what is available (on Linux, MemAvailable of /proc/meminfo). */
function hostMemory(): HostMemoryReport {
  const totalMb = Math.floor(os.totalmem() / 1048576);
  return { totalMb, availableMb: Math.min(totalMb, Math.floor(os.freemem() / 1048576)) };
}
