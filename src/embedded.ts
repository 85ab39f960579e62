import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { pino, type Logger } from 'pino';
import { agentOptions } from './agent/agent-options.js';
import { LocalAgent } from './agent/local-agent.js';
import { discoverDevices } from './agent/devices/discovery.js';
import { defaultLauncherCount, LauncherPool } from './agent/launcher/launcher-pool.js';
import { defaultMaxRunning, sloThresholds, type ServerConfig } from './config.js';
import { systemClock, type Clock } from './core/clock.js';
import { AuditLog } from './control-plane/audit-log.js';
import { announceAuth } from './control-plane/auth.js';
import { ControlPlane } from './control-plane/control-plane.js';
import { Housekeeping } from './control-plane/housekeeping.js';
import { LeaderElection } from './control-plane/leader-election.js';
import { Metrics } from './control-plane/metrics.js';
import { SchedulerLoop } from './control-plane/scheduler-loop.js';
import { FeedWatch } from './control-plane/feed-follow.js';
import { createPipelines } from './control-plane/pipelines/pipelines.js';
import { createPools } from './control-plane/pools/pools.js';
import { IntakeService } from './control-plane/intake/intake-service.js';
import { buildServer } from './control-plane/server.js';
import { openStore } from './store/open-store.js';
import { VERSION } from './version.js';

export interface RunningGpuq {
  url: string;
  /** Stops accepting requests and scheduling; running attempts are killed and recorded (their jobs retry after a restart). */
  close(): Promise<void>;
}

/**
 * `gpuq up` on one machine: the store (embedded SQLite, or PostgreSQL with
 * --database-url), the control plane (API, scheduler, lease reclaimer,
 * retention) and, unless --no-agent, a local agent, in one process.
 */
export async function startEmbedded(config: ServerConfig, options: { clock?: Clock; log?: Logger } = {}): Promise<RunningGpuq> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? pino({ level: config.logLevel }, pino.destination(2));
  const startedAt = clock.now();
  const { store, capabilities: storeCapabilities } = await openStore(config);
  await announceAuth(config.auth, store, log.child({ component: 'auth' }), `gpuq token create --role admin --name admin ${config.databaseUrl === undefined ? `--data-dir ${config.dataDir}` : '--database-url <this server\'s URL>'}`);
  const metrics = new Metrics(store);
  const leaseMs = config.leaseSeconds * 1000;
  const idle = { policy: { utilizationPct: config.idleUtilizationPct, idleMs: config.idleMinutes * 60_000 }, cancel: config.idleCancel };
  const controlPlane = new ControlPlane(store, clock, metrics, log.child({ component: 'control-plane' }), { leaseMs, idle });
  await controlPlane.init();
  const scheduler = new SchedulerLoop(store, controlPlane, clock, metrics, log.child({ component: 'scheduler' }), { batchSize: 2000, leaseMs, periodMs: 200 });
  controlPlane.onWork = () => scheduler.wake();
  const housekeeping = new Housekeeping(store, controlPlane, clock, log.child({ component: 'housekeeping' }), {
    reclaimEveryMs: 1000,
    nodeDownAfterMs: Math.max(leaseMs, config.heartbeatSeconds * 3000),
    retentionMs: config.retentionDays * 86_400_000,
    auditRetentionMs: config.auditRetentionDays * 86_400_000,
    telemetryRetentionMs: 86_400_000,
    eventRetentionMs: config.eventRetentionHours * 3_600_000,
    purgeEveryMs: 3_600_000,
  });

  const pools = await createPools({ store, controlPlane, clock, metrics, log, gpuLimit: config.poolGpuLimit ?? null, memoryPressurePct: config.memoryPressurePct });
  const pipelines = createPipelines({ store, controlPlane, clock, metrics, log, pipelinesDir: config.pipelinesDir });
  // Broker intake (ADR 0017): sources and sinks run only on the leader, like the pool controller.
  const intake = new IntakeService(config.intake, store, controlPlane, pipelines.service, clock, metrics, log.child({ component: 'intake' }));
  await intake.init();
  // Pool replica hosts started by the local agent reach the API here, once it listens.
  let apiUrl = '';

  // --no-agent: a control-plane server only (a replica of a cluster whose jobs run on `gpuq agent` hosts).
  const local = config.agent ? await startLocalAgent(config, controlPlane, clock, log, () => [apiUrl]) : null;
  if (!local) log.info('no local agent (--no-agent): jobs run on the nodes of `gpuq agent` hosts');

  const feed = new FeedWatch(store);
  const replicaId = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const app = buildServer({ store, storeKind: storeCapabilities.name, controlPlane, pools: pools.service, pipelines: pipelines.service, triggers: pipelines.triggers, schedules: pipelines.schedules, intake, scheduler, metrics, clock, version: VERSION, startedAt, replicaId, replicaAliveMs: config.leaderRenewSeconds * 3000, auth: config.auth, audit: new AuditLog(store, clock, log.child({ component: 'audit' })), feed, slo: sloThresholds(config), dataDir: config.dataDir }, log.child({ component: 'http' }), config.bodyLimitBytes);
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // A wildcard listen address is not an address to connect to: the local agent's replica hosts use loopback.
  apiUrl = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host === '::' ? '[::1]' : config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  // Only the leader schedules, reclaims and purges. On SQLite this server is the store's only user and leads
  // at once; on PostgreSQL it leads when the lease is free, and serves the API meanwhile either way.
  const election = new LeaderElection(
    store,
    clock,
    metrics,
    log.child({ component: 'election' }),
    {
      elected(fence) {
        controlPlane.setLeader(fence);
        scheduler.start();
        housekeeping.start();
        pools.controller.start();
        pipelines.controller.start();
        pipelines.triggerController.start();
        pipelines.scheduleController.start();
        intake.start();
      },
      async deposed() {
        housekeeping.stop();
        await intake.stop();
        await pools.controller.stop();
        await pipelines.scheduleController.stop();
        await pipelines.triggerController.stop();
        await pipelines.controller.stop();
        await scheduler.stop();
        controlPlane.setLeader(null);
      },
    },
    {
      replicaId,
      url,
      leaseMs: config.leaderLeaseSeconds * 1000,
      renewMs: config.leaderRenewSeconds * 1000,
      takeoverAtStart: !storeCapabilities.replicas,
    },
  );
  controlPlane.onLeadershipLost = (term) => void election.lost(term);
  await election.start();
  // Work submitted and maintenance set through other servers sharing the store (and, on SQLite, this one's own writes).
  const events = store.subscribe((e) => {
    pools.service.onStoreEvent(e);
    // A job's end may be a pool replica's: its tasks are redelivered and a replacement started.
    if (e.type === 'work') pools.controller.wake();
    // A job's or a pool task's end may be a pipeline run's last, or let its next step start (a trigger settles the run's file at its next turn).
    if (e.type === 'work' || e.type === 'pool-results') pipelines.controller.jobsEnded();
    if (e.type === 'feed') intake.onFeed();
    if (e.type === 'work' || e.type === 'resync') scheduler.wake();
    if (e.type === 'maintenance' || e.type === 'resync') void controlPlane.refreshMaintenanceMode().catch((err: unknown) => log.warn({ err }, 'rereading the maintenance mode failed'));
  });
  await events.ready;

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        events.unsubscribe();
        pools.service.close();
        local?.detach();
        // Before the election lets go: no message is read, nor acked, after this.
        await intake.close();
        await election.stop();
        await app.close();
        feed.close();
        await local?.stop();
        await store.close();
      })();
      return closing;
    },
  };
}

/** This machine's agent in `gpuq up`: device discovery, the launcher pool, and a LocalAgent attached to the control plane in process. */
async function startLocalAgent(config: ServerConfig, controlPlane: ControlPlane, clock: Clock, log: Logger, apiUrls: () => readonly string[]): Promise<{ detach(): void; stop(): Promise<void> }> {
  // --fake-gpus 0 (the default) means: discover real GPUs with nvidia-smi.
  const devices = await discoverDevices({ fakeGpus: config.fakeGpus > 0 ? config.fakeGpus : undefined, nodeId: config.nodeName, now: () => clock.now() });
  const launcher = await LauncherPool.start(defaultLauncherCount(os.availableParallelism()), log.child({ component: 'launcher' }));
  const agent = new LocalAgent(
    controlPlane,
    clock,
    log.child({ component: 'agent', nodeId: config.nodeName }),
    agentOptions(config, { labels: {}, maxRunning: config.maxRunning ?? defaultMaxRunning(devices.devices.length), devices, launcher, apiUrls }),
  );
  // Start first: registering reclaims what the node's previous run left live, which the feed must not hand over.
  await agent.start();
  await controlPlane.attachAgent(agent);
  for (const w of devices.warnings) log.warn({ warning: w }, 'device discovery');
  log.info({ source: devices.source, devices: devices.devices.length }, devices.source === 'fake' ? 'using SIMULATED GPUs (--fake-gpus): no hardware behind them' : 'devices discovered');
  return {
    detach: () => controlPlane.detachAgent(agent),
    async stop() {
      await agent.stop();
      await launcher.stop();
    },
  };
}
