import { systemClock } from '../../core/clock.js';
import type { Store } from '../store.js';
import * as attempts from './attempt-queries.js';
import * as jobs from './job-queries.js';
import { runMigrations } from './migrate.js';
import * as nodes from './node-queries.js';
import * as placement from './placement-queries.js';
import { createDatabase, mapError } from './postgres-pool.js';

/**
 * The Store on PostgreSQL through node-postgres, for cluster mode: several
 * gpuq servers may share one database (see store-capabilities.ts).
 *
 * Each method is one transaction and resolves after its COMMIT: a write of
 * several statements runs in BEGIN … COMMIT (READ COMMITTED, with row locks
 * where it decides on what it read), a read of several statements in one
 * REPEATABLE READ snapshot, and a method that is one statement runs on its own.
 * Batches are set-based: arrays bound as parameters and expanded with unnest(),
 * so a call costs a fixed number of round trips however many rows it writes.
 *
 * Lock order, so concurrent transactions (other replicas included) never
 * deadlock: jobs rows (in id order), then nodes rows (in id order), then
 * attempts and everything else. A deadlock or serialization failure that
 * happens all the same is retried (postgres-pool.ts).
 */

export interface PostgresStoreOptions {
  /** A PostgreSQL connection URL: postgres://user:password@host:5432/database (node-postgres's connection string). */
  url: string;
  /**
   * Schema the tables live in (created by the first migration when missing): several gpuq
   * installations, or test runs, can share one database.
   * @default the server's search_path (usually "public")
   */
  schema?: string;
  /**
   * Most connections the store opens at once. Each transaction holds one until it commits.
   * @default 10
   */
  poolSize?: number;
}

const DEFAULT_POOL_SIZE = 10;

/** Connects, applies pending migrations, and returns the store. Fails with STORE_UNAVAILABLE when the database cannot be reached. */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const db = createDatabase({ url: opts.url, schema: opts.schema, poolSize: opts.poolSize ?? DEFAULT_POOL_SIZE });
  try {
    await runMigrations(db, systemClock.now(), opts.schema);
  } catch (err) {
    await db.end();
    throw mapError(err);
  }

  let closed = false;
  return {
    migrate: async () => {
      await runMigrations(db, systemClock.now(), opts.schema);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await db.end();
    },
    ping: async () => {
      await db.query('SELECT 1');
    },

    submitJobs: (specs, now) => db.write((sql) => jobs.submitJobs(sql, specs, now)),
    getJob: (id) => jobs.getJob(db, id),
    listJobs: (filter, page) => jobs.listJobs(db, filter, page),
    listAttempts: (jobId) => jobs.listAttempts(db, jobId),
    getAttempt: (attemptId) => jobs.getAttempt(db, attemptId),
    listEvents: (jobId) => jobs.listEvents(db, jobId),
    cancelJobs: (selector, reason, now) => db.write((sql) => jobs.cancelJobs(sql, selector, reason, now)),
    replayJobs: (selector, now) => jobs.replayJobs(db, selector, now),
    purgeDlq: (selector, now) => jobs.purgeDlq(db, selector, now),

    schedulingSnapshot: (now, limit) => db.read((sql) => placement.schedulingSnapshot(sql, now, limit)),
    applyPlan: (placements, now, leaseMs) => db.write((sql) => placement.applyPlan(sql, placements, now, leaseMs)),
    markRunning: (reports, now) => db.write((sql) => attempts.markRunning(sql, reports, now)),
    endAttempts: (reports, decide, now) => db.write((sql) => attempts.endAttempts(sql, reports, decide, now)),
    renewLeases: (nodeId, attemptIds, expiresAt) => attempts.renewLeases(db, nodeId, attemptIds, expiresAt),
    listLiveAttempts: (nodeId) => attempts.listLiveAttempts(db, nodeId),
    listExpiredAttempts: (now) => attempts.listExpiredAttempts(db, now),

    upsertNode: (node) => db.write((sql) => nodes.upsertNode(sql, node)),
    heartbeatNode: (nodeId, now) => nodes.heartbeatNode(db, nodeId, now),
    markNodesDown: (before) => nodes.markNodesDown(db, before),
    listNodes: () => db.read((sql) => nodes.listNodes(sql)),
    recordTelemetry: (samples) => nodes.recordTelemetry(db, samples),
    latestTelemetry: () => nodes.latestTelemetry(db),
    telemetryHistory: (nodeId, index, since) => nodes.telemetryHistory(db, nodeId, index, since),

    getMaintenanceMode: () => nodes.getMaintenanceMode(db),
    setMaintenanceMode: (mode, now) => nodes.setMaintenanceMode(db, mode, now),

    purgeFinishedJobs: (before, limit) => jobs.purgeFinishedJobs(db, before, limit),
    purgeTelemetry: (before) => nodes.purgeTelemetry(db, before),
    jobStats: () => db.read((sql) => jobs.jobStats(sql)),
  };
}
