/**
 * For route tests: the real HTTP server (driven with inject()) over a real SQLite store in a fresh
 * temporary directory. No scheduler loop runs: tests place and end attempts by hand.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { ManualClock } from '../core/clock.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { AuditLog } from './audit-log.js';
import type { AuthMode } from './auth.js';
import { ControlPlane } from './control-plane.js';
import type { IdleSettings } from './gpu-accounting.js';
import { Metrics } from './metrics.js';
import { SchedulerLoop } from './scheduler-loop.js';
import { FeedWatch } from './feed-follow.js';
import { buildServer } from './server.js';
import { createPipelines } from './pipelines/pipelines.js';
import { createPools } from './pools/pools.js';

export const TEST_LEASE_MS = 30_000;

export interface TestServer {
  /** The temporary directory; the server's data directory is `dataDir`. */
  dir: string;
  dataDir: string;
  store: Store;
  clock: ManualClock;
  controlPlane: ControlPlane;
  app: FastifyInstance;
  /** Closes the server and the store and removes the directory. */
  close(): Promise<void>;
}

export async function startTestServer(o: { auth?: AuthMode; prefix?: string; dataDirIn?: (dir: string) => string; idle?: IdleSettings } = {}): Promise<TestServer> {
  const log = pino({ level: 'silent' });
  const dir = await mkdtemp(join(tmpdir(), o.prefix ?? 'gpuq-routes-'));
  const dataDir = o.dataDirIn?.(dir) ?? dir;
  const store = await openSqliteStore({ dataDir });
  const clock = new ManualClock();
  const metrics = new Metrics(store);
  const controlPlane = new ControlPlane(store, clock, metrics, log, { leaseMs: TEST_LEASE_MS, idle: o.idle });
  await controlPlane.init();
  const scheduler = new SchedulerLoop(store, controlPlane, clock, metrics, log, { batchSize: 100, leaseMs: TEST_LEASE_MS, periodMs: 200 });
  const audit = new AuditLog(store, clock, log);
  const feed = new FeedWatch(store);
  const pools = await createPools({ store, controlPlane, clock, metrics, log, gpuLimit: null, memoryPressurePct: 0 });
  const pipelines = createPipelines({ store, controlPlane, clock, metrics, log, pipelinesDir: join(dir, 'pipelines') });
  const app = buildServer({ store, storeKind: 'sqlite', controlPlane, pools: pools.service, pipelines: pipelines.service, triggers: pipelines.triggers, schedules: pipelines.schedules, scheduler, metrics, clock, version: 'test', startedAt: clock.now(), replicaId: 'test', replicaAliveMs: 6000, auth: o.auth ?? 'off', audit, feed, dataDir }, log, 1 << 20);
  await app.ready();
  return {
    dir,
    dataDir,
    store,
    clock,
    controlPlane,
    app,
    async close() {
      pools.service.close();
      await app.close();
      feed.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
