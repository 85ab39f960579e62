import os from 'node:os';
import { pino, type Logger } from 'pino';
import { LocalAgent } from './agent/local-agent.js';
import { discoverDevices } from './agent/devices/discovery.js';
import { defaultLauncherCount, LauncherPool } from './agent/launcher/launcher-pool.js';
import { defaultMaxRunning, type ServerConfig } from './config.js';
import { systemClock, type Clock } from './core/clock.js';
import { ControlPlane } from './control-plane/control-plane.js';
import { Housekeeping } from './control-plane/housekeeping.js';
import { Metrics } from './control-plane/metrics.js';
import { SchedulerLoop } from './control-plane/scheduler-loop.js';
import { buildServer } from './control-plane/server.js';
import { openPostgresStore } from './store/postgres/postgres-store.js';
import { openSqliteStore } from './store/sqlite/sqlite-store.js';
import { STORE_CAPABILITIES } from './store/store-capabilities.js';
import { VERSION } from './version.js';

export interface RunningGpuq {
  url: string;
  /** Stops accepting requests and scheduling; running attempts are killed and recorded (their jobs retry after a restart). */
  close(): Promise<void>;
}

/**
 * `gpuq up` on one machine: the store (embedded SQLite, or PostgreSQL with
 * --database-url), the control plane (API, scheduler, lease reclaimer,
 * retention) and a local agent, in one process.
 */
export async function startEmbedded(config: ServerConfig, options: { clock?: Clock; log?: Logger } = {}): Promise<RunningGpuq> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? pino({ level: config.logLevel }, pino.destination(2));
  const startedAt = clock.now();
  const storeCapabilities = STORE_CAPABILITIES[config.databaseUrl === undefined ? 'sqlite' : 'postgres'];
  const store =
    config.databaseUrl === undefined
      ? await openSqliteStore({ dataDir: config.dataDir, durability: config.durability })
      : await openPostgresStore({ url: config.databaseUrl });
  await store.migrate();
  const metrics = new Metrics(store);
  const leaseMs = config.leaseSeconds * 1000;
  const controlPlane = new ControlPlane(store, clock, metrics, log.child({ component: 'control-plane' }), { leaseMs });
  await controlPlane.init();
  const scheduler = new SchedulerLoop(store, controlPlane, clock, metrics, log.child({ component: 'scheduler' }), { batchSize: 2000, leaseMs, periodMs: 200 });
  controlPlane.onWork = () => scheduler.wake();
  const housekeeping = new Housekeeping(store, controlPlane, clock, log.child({ component: 'housekeeping' }), {
    reclaimEveryMs: 1000,
    nodeDownAfterMs: Math.max(leaseMs, config.heartbeatSeconds * 3000),
    retentionMs: config.retentionDays * 86_400_000,
    telemetryRetentionMs: 86_400_000,
    purgeEveryMs: 3_600_000,
  });

  // --fake-gpus 0 (the default) means: discover real GPUs with nvidia-smi.
  const devices = await discoverDevices({ fakeGpus: config.fakeGpus > 0 ? config.fakeGpus : undefined, nodeId: config.nodeName, now: () => clock.now() });
  const launcher = await LauncherPool.start(defaultLauncherCount(os.availableParallelism()), log.child({ component: 'launcher' }));
  const agent = new LocalAgent(controlPlane, clock, log.child({ component: 'agent', nodeId: config.nodeName }), {
    nodeId: config.nodeName,
    hostname: os.hostname(),
    labels: {},
    cpus: config.cpus,
    memoryMb: config.memoryMb,
    maxRunning: config.maxRunning ?? defaultMaxRunning(devices.devices.length),
    dataDir: config.dataDir,
    heartbeatMs: config.heartbeatSeconds * 1000,
    telemetryMs: config.telemetrySeconds * 1000,
    logCapBytes: Math.round(config.logCapMb * 1048576),
    killGraceMs: config.killGraceSeconds * 1000,
    devices,
    launcher,
  });
  controlPlane.attachAgent(agent);
  await agent.start();
  for (const w of devices.warnings) log.warn({ warning: w }, 'device discovery');
  log.info({ source: devices.source, devices: devices.devices.length }, devices.source === 'fake' ? 'using SIMULATED GPUs (--fake-gpus): no hardware behind them' : 'devices discovered');

  const app = buildServer({ store, storeKind: storeCapabilities.name, controlPlane, scheduler, metrics, clock, version: VERSION, startedAt }, log.child({ component: 'http' }), config.bodyLimitBytes);
  await app.listen({ host: config.host, port: config.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  scheduler.start();
  housekeeping.start();

  let closing: Promise<void> | null = null;
  return {
    url,
    close() {
      closing ??= (async () => {
        housekeeping.stop();
        await scheduler.stop();
        await app.close();
        await agent.stop();
        await launcher.stop();
        await store.close();
      })();
      return closing;
    },
  };
}
