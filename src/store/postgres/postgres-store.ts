import { systemClock } from '../../core/clock.js';
import type { AuditOf } from '../access-store.js';
import type { Fence } from '../leadership.js';
import { announcing, type StoreMethods } from '../announce.js';
import type { Store } from '../store.js';
import * as access from './access-queries.js';
import * as attempts from './attempt-queries.js';
import * as dependencies from './dependency-queries.js';
import * as feed from './feed-queries.js';
import * as jobs from './job-queries.js';
import * as leader from './leader-queries.js';
import { runMigrations } from './migrate.js';
import * as nodes from './node-queries.js';
import * as outputs from './output-queries.js';
import * as gpuUsage from './gpu-usage-queries.js';
import * as intake from './intake-queries.js';
import { PgNotifications } from './notifications.js';
import * as placement from './placement-queries.js';
import * as pipelines from './pipeline-queries.js';
import * as schedules from './schedule-queries.js';
import * as triggers from './trigger-queries.js';
import * as pools from './pool-queries.js';
import * as poolTasks from './pool-task-queries.js';
import * as report from './report-queries.js';
import { createDatabase, mapError, type Sql } from './postgres-pool.js';

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

  // One channel per schema: installations sharing a database do not hear each other.
  const [{ schema } = { schema: 'public' }] = await db.query<{ schema: string }>('SELECT current_schema() AS schema');
  const notifications = new PgNotifications(db, opts.url, opts.schema, `gpuq_events_${schema}`.slice(0, 63));

  /** An operator's write: the audit record its outcome calls for (access-store.ts AuditOf) is appended in the same transaction. */
  const audited = <R>(run: (sql: Sql) => Promise<R>, audit: AuditOf<R> | undefined): Promise<R> =>
    db.write(async (sql) => {
      const out = await run(sql);
      const record = audit?.(out);
      if (record) await access.appendAudit(sql, record);
      return out;
    });

  let closed = false;
  const methods: StoreMethods = {
    migrate: async () => {
      await runMigrations(db, systemClock.now(), opts.schema);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await notifications.close();
      await db.end();
    },
    ping: async () => {
      await db.query('SELECT 1');
    },

    submitJobs: (specs, now, owner) => db.write((sql) => jobs.submitJobs(sql, specs, now, owner ?? null)),
    getJob: (id) => jobs.getJob(db, id),
    listJobs: (filter, page, sort) => jobs.listJobs(db, filter, page, sort),
    listAttempts: (jobId) => jobs.listAttempts(db, jobId),
    getAttempt: (attemptId) => jobs.getAttempt(db, attemptId),
    listEvents: (jobId) => jobs.listEvents(db, jobId),
    listDependencies: (jobId) => dependencies.listDependencies(db, jobId),
    cancelJobs: (selector, reason, now, audit) => audited((sql) => jobs.cancelJobs(sql, selector, reason, now), audit),
    replayJobs: (selector, now, audit) => audited((sql) => jobs.replayJobs(sql, selector, now), audit),
    purgeDlq: (selector, now, audit) => audited((sql) => jobs.purgeDlq(sql, selector, now), audit),

    schedulingSnapshot: (now, limit) => db.read((sql) => placement.schedulingSnapshot(sql, now, limit)),
    applyPlan: (placements, now, leaseMs, fence) => db.write(fenced(fence, (sql) => placement.applyPlan(sql, placements, now, leaseMs))),
    markRunning: (reports, now) => db.write((sql) => attempts.markRunning(sql, reports, now)),
    endAttempts: (reports, decide, now, fence) => db.write(fenced(fence, (sql) => attempts.endAttempts(sql, reports, decide, now))),
    renewLeases: (nodeId, attemptIds, expiresAt) => attempts.renewLeases(db, nodeId, attemptIds, expiresAt),
    listLiveAttempts: (nodeId) => attempts.listLiveAttempts(db, nodeId),
    listAssignedAttempts: (nodeId) => attempts.listAssignedAttempts(db, nodeId),
    attemptOrigins: (ids) => attempts.attemptOrigins(db, ids),
    listExpiredAttempts: (now) => attempts.listExpiredAttempts(db, now),
    getJobOutput: (jobId, attempt) => outputs.getJobOutput(db, jobId, attempt),
    recordLiveGpuUsage: (nodeId, reports, now) => db.write((sql) => gpuUsage.recordLiveGpuUsage(sql, nodeId, reports, now)),
    listGpuUsage: (jobId) => gpuUsage.listGpuUsage(db, jobId),
    idleAttemptsByQueue: () => gpuUsage.idleAttemptsByQueue(db),
    deviceHolders: () => gpuUsage.deviceHolders(db),

    upsertNode: (node) => db.write((sql) => nodes.upsertNode(sql, node)),
    heartbeatNode: (nodeId, now, hostMemory) => nodes.heartbeatNode(db, nodeId, now, hostMemory),
    nodeLeft: (nodeId, incarnation) => nodes.nodeLeft(db, nodeId, incarnation),
    markNodesDown: (before, fence) => (fence ? db.write(fenced(fence, (sql) => nodes.markNodesDown(sql, before))) : nodes.markNodesDown(db, before)),
    listNodes: () => db.read((sql) => nodes.listNodes(sql)),
    getNode: (nodeId) => db.read((sql) => nodes.getNode(sql, nodeId)),
    setNodeAdminState: (nodeId, state, audit) => audited((sql) => nodes.setNodeAdminState(sql, nodeId, state), audit),
    setNodeLogEndpoint: (nodeId, endpoint) => nodes.setNodeLogEndpoint(db, nodeId, endpoint),
    getNodeLogEndpoint: (nodeId) => nodes.getNodeLogEndpoint(db, nodeId),
    recordTelemetry: (samples) => nodes.recordTelemetry(db, samples),
    latestTelemetry: () => nodes.latestTelemetry(db),
    telemetryHistory: (nodeId, index, since) => nodes.telemetryHistory(db, nodeId, index, since),

    getMaintenanceMode: () => nodes.getMaintenanceMode(db),
    setMaintenanceMode: (mode, now, audit) => audited((sql) => nodes.setMaintenanceMode(sql, mode, now), audit),

    purgeFinishedJobs: (before, limit, fence) => (fence ? db.write(fenced(fence, (sql) => jobs.purgeFinishedJobs(sql, before, limit))) : jobs.purgeFinishedJobs(db, before, limit)),
    purgeTelemetry: (before, fence) => (fence ? db.write(fenced(fence, (sql) => nodes.purgeTelemetry(sql, before))) : nodes.purgeTelemetry(db, before)),
    purgeAudit: (before, fence) => (fence ? db.write(fenced(fence, (sql) => access.purgeAudit(sql, before))) : access.purgeAudit(db, before)),
    readFeed: (after, filter, limit) => db.read((sql) => feed.readFeed(sql, after, filter, limit)),
    purgeFeed: (before, fence) => db.write(fenced(fence, (sql) => feed.purgeFeed(sql, before))),

    claimLeadership: (holder, url, now, leaseMs, takeover) => db.write((sql) => leader.claimLeadership(sql, holder, url, now, leaseMs, takeover)),
    resignLeadership: (holder, term, now) => leader.resignLeadership(db, holder, term, now),
    getLeadership: () => leader.getLeadership(db),
    seeReplica: (id, url, now) => db.write((sql) => leader.seeReplica(sql, id, url, now)),
    listReplicas: (since) => leader.listReplicas(db, since),
    jobStats: () => db.read((sql) => jobs.jobStats(sql)),
    jobReport: (query) => db.read((sql) => report.jobReport(sql, query)),

    createTrigger: (spec, now, audit) => audited((sql) => triggers.createTrigger(sql, spec, now), audit),
    deleteTrigger: (name, audit) => audited((sql) => triggers.deleteTrigger(sql, name), audit),
    getTrigger: (name) => triggers.getTrigger(db, name),
    listTriggers: () => triggers.listTriggers(db),
    setTriggersPaused: (names, paused, audit) => audited((sql) => triggers.setTriggersPaused(sql, names, paused), audit),
    claimTriggerFiles: (trigger, files, now, fence) => (fence ? db.write(fenced(fence, (sql) => triggers.claimTriggerFiles(sql, trigger, files, now))) : triggers.claimTriggerFiles(db, trigger, files, now)),
    openTriggerClaims: (trigger) => triggers.openTriggerClaims(db, trigger),
    settleTriggerClaim: (id, settled, now) => triggers.settleTriggerClaim(db, id, settled, now),
    createSchedule: (spec, now, audit) => audited((sql) => schedules.createSchedule(sql, spec, now), audit),
    deleteSchedule: (name, audit) => audited((sql) => schedules.deleteSchedule(sql, name), audit),
    getSchedule: (name) => schedules.getSchedule(db, name),
    listSchedules: () => schedules.listSchedules(db),
    setSchedulesPaused: (names, paused, now, audit) => audited((sql) => schedules.setSchedulesPaused(sql, names, paused, now), audit),
    recordScheduleFire: (schedule, fire, upTo, fence) => db.write(fenced(fence, (sql) => schedules.recordScheduleFire(sql, schedule, fire, upTo))),
    listScheduleFires: (schedule, limit) => schedules.listScheduleFires(db, schedule, limit),
    createPipeline: (spec, now, audit) => audited((sql) => pipelines.createPipeline(sql, spec, now), audit),
    deletePipeline: (name, audit) => audited((sql) => pipelines.deletePipeline(sql, name), audit),
    getPipeline: (name) => pipelines.getPipeline(db, name),
    listPipelines: () => pipelines.listPipelines(db),
    createPipelineRun: (run, plan, now, owner) => db.write((sql) => pipelines.createPipelineRun(sql, run, plan, now, owner)),
    advancePipelineRun: (id, units, now) => db.write((sql) => pipelines.advancePipelineRun(sql, id, units, now)),
    endedPipelineRunsBefore: (before, limit) => pipelines.endedPipelineRunsBefore(db, before, limit),
    deletePipelineRuns: (ids, fence) => (fence ? db.write(fenced(fence, (sql) => pipelines.deletePipelineRuns(sql, ids))) : pipelines.deletePipelineRuns(db, ids)),
    getPipelineRun: (id) => db.read((sql) => pipelines.getPipelineRun(sql, id)),
    listPipelineRuns: (filter) => pipelines.listPipelineRuns(db, filter),
    runningPipelineRuns: () => db.read((sql) => pipelines.runningPipelineRuns(sql)),
    countRunningPipelineRuns: () => pipelines.countRunningPipelineRuns(db),
    choosePipelineOutputs: (id, outputs) => pipelines.choosePipelineOutputs(db, id, outputs),
    endPipelineRun: (id, end, now) => pipelines.endPipelineRun(db, id, end, now),
    createPool: (spec, now, audit) => audited((sql) => pools.createPool(sql, spec, now), audit),
    updatePool: (name, spec, now, audit) => audited((sql) => pools.updatePool(sql, name, spec, now), audit),
    setPoolState: (names, state, now, audit) => audited((sql) => pools.setPoolState(sql, names, state, now), audit),
    deletePool: (name, now, audit) => audited((sql) => pools.deletePool(sql, name, now), audit),
    getPool: (name) => pools.getPool(db, name),
    listPools: () => pools.listPools(db),
    poolCredentialKey: () => pools.poolCredentialKey(db, systemClock.now()),
    startReplicas: (pool, generation, specs, now, fence) => db.write(fenced(fence, (sql) => pools.startReplicas(sql, pool, generation, specs, now))),
    listPoolReplicas: (filter) => pools.listPoolReplicas(db, filter),
    markReplicaReady: (jobId, attemptId, now) => pools.markReplicaReady(db, jobId, attemptId, now),
    requestReplicaStop: (jobIds, reason, _now, fence) =>
      fence ? db.write(fenced(fence, (sql) => pools.requestReplicaStop(sql, jobIds, reason))) : pools.requestReplicaStop(db, jobIds, reason),
    recordReplicaEnd: (jobId, reason, detail) => pools.recordReplicaEnd(db, jobId, reason, detail),
    submitTasks: (pool, tasks, now, owner) => db.write((sql) => poolTasks.submitTasks(sql, pool, tasks, now, owner ?? null)),
    getTasks: (pool, ids) => poolTasks.getTasks(db, pool, ids),
    listTasks: (pool, filter, page) => poolTasks.listTasks(db, pool, filter, page),
    claimTasks: (jobId, attemptId, max, now, held) => poolTasks.claimTasks(db, jobId, attemptId, max, now, held),
    completeTasks: (jobId, attemptId, outcomes, now, random) => db.write((sql) => poolTasks.completeTasks(sql, jobId, attemptId, outcomes, now, random)),
    redeliverTasks: (now, fence) => db.write(fenced(fence, (sql) => poolTasks.redeliverTasks(sql, now))),
    replayTasks: (pool, selector, now, audit) => audited((sql) => poolTasks.replayTasks(sql, pool, selector, now), audit),
    poolBacklogs: (now, since) => poolTasks.poolBacklogs(db, now, since),
    lastColdStart: (pool) => poolTasks.lastColdStart(db, pool),
    purgeFinishedTasks: (before, limit, fence) =>
      fence ? db.write(fenced(fence, (sql) => poolTasks.purgeFinishedTasks(sql, before, limit))) : poolTasks.purgeFinishedTasks(db, before, limit),

    getIntakePauses: () => intake.getIntakePauses(db),
    setIntakePaused: (target, paused, now, audit) => audited((sql) => intake.setIntakePaused(sql, target, paused, now), audit),
    getSinkCursors: () => intake.getSinkCursors(db),
    advanceSinkCursor: (sink, feedId, now) => intake.advanceSinkCursor(db, sink, feedId, now),

    createToken: (token, audit) => db.write((sql) => access.createToken(sql, token, audit)),
    findTokenByHash: (hash) => access.findTokenByHash(db, hash),
    listTokens: (options) => access.listTokens(db, options),
    revokeToken: (id, now, audit) => db.write((sql) => access.revokeToken(sql, id, now, audit)),
    touchToken: (id, now) => access.touchToken(db, id, now),
    appendAudit: (record) => access.appendAudit(db, record),
    listAudit: (filter, page) => access.listAudit(db, filter, page),
  };
  return {
    ...announcing(methods, (event) => notifications.publish(event)),
    subscribe: (listener) => notifications.subscribe(listener),
  };
}

/** A leader-only write: the fence is checked first, in the write's own transaction (leader-queries.ts). */
function fenced<R>(fence: Fence | undefined, fn: (sql: Sql) => Promise<R>): (sql: Sql) => Promise<R> {
  if (fence === undefined) return fn;
  return async (sql) => {
    await leader.checkFence(sql, fence);
    return fn(sql);
  };
}
