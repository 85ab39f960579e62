import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../core/clock.js';
import { GpuqError } from '../../core/errors.js';
import type { AuditOf } from '../access-store.js';
import type { Fence } from '../leadership.js';
import { announcing, type StoreMethods } from '../announce.js';
import type { StoreEvent, StoreEventListener } from '../store-events.js';
import type { Store } from '../store.js';
import { prepareAccessQueries } from './access-queries.js';
import { prepareAttemptQueries } from './attempt-queries.js';
import { prepareDependencyQueries } from './dependency-queries.js';
import { prepareFeedQueries } from './feed-queries.js';
import { prepareOutputQueries } from './output-queries.js';
import { prepareGpuUsageQueries } from './gpu-usage-queries.js';
import { GroupCommitQueue } from './group-commit.js';
import { prepareJobQueries } from './job-queries.js';
import { prepareLeaderQueries } from './leader-queries.js';
import { runMigrations } from './migrate.js';
import { prepareNodeQueries } from './node-queries.js';
import { preparePipelineQueries } from './pipeline-queries.js';
import { prepareScheduleQueries } from './schedule-queries.js';
import { prepareTriggerQueries } from './trigger-queries.js';
import { preparePoolQueries } from './pool-queries.js';
import { preparePoolTaskQueries } from './pool-task-queries.js';
import { prepareIntakeQueries } from './intake-queries.js';
import { prepareReportQueries } from './report-queries.js';

/**
 * The Store on one SQLite file (`<dataDir>/gpuq.db`) through better-sqlite3.
 *
 * better-sqlite3 is synchronous: statements run on the calling thread, which is
 * the fastest way to use SQLite from Node (no thread hops, prepared statements
 * reused), and the transactions are short. Each method is atomic and resolves
 * once committed; writes made in one turn of the event loop share one commit
 * (group-commit.ts). Write transactions use BEGIN IMMEDIATE so a second process
 * on the same file waits on busy_timeout instead of failing when its read lock
 * cannot be upgraded.
 */

export interface SqliteStoreOptions {
  /** Directory of the database file `gpuq.db`; created when missing. */
  dataDir: string;
  /**
   * 'normal': a committed transaction survives a crash of the process (kill -9);
   * a power loss or OS crash may lose the last transactions (WAL, synchronous=NORMAL).
   * 'strict': committed transactions survive a power loss too (synchronous=FULL: an fsync per commit).
   * @default 'normal'
   */
  durability?: 'normal' | 'strict';
}

export const DB_FILE_NAME = 'gpuq.db';
/** How long a write waits for another connection's lock before failing with STORE_UNAVAILABLE. */
const BUSY_TIMEOUT_MS = 5000;
/** Page cache per connection (negative: KiB). Large enough that the hot indexes stay in memory. */
const CACHE_SIZE_KIB = 64 * 1024;
/**
 * WAL pages between automatic checkpoints (SQLite's default is 1000). A checkpoint copies each page once
 * however often it changed since the last one, and the hot pages (the newest jobs, the index tails) change
 * constantly: at 4000 the job lifecycle ran ~20% faster than at 1000, trading pauses of ~20 ms every
 * ~4 MB of WAL for pauses of ~70 ms every ~16 MB.
 */
const WAL_AUTOCHECKPOINT_PAGES = 4000;
/** Truncates the WAL file back to this size after a checkpoint, so a burst does not leave it large. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;

/** SQLite result codes that mean "the database cannot serve right now", not "the caller did something wrong". */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB|PROTOCOL)/;

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  const path = join(opts.dataDir, DB_FILE_NAME);
  let db: Database.Database;
  try {
    mkdirSync(opts.dataDir, { recursive: true });
    db = new Database(path);
  } catch (err) {
    throw unavailable(err, `cannot open the SQLite database ${path}`);
  }
  try {
    configure(db, opts.durability ?? 'normal');
    runMigrations(db, systemClock.now());
    return createSqliteStore(db);
  } catch (err) {
    db.close();
    throw mapError(err);
  }
}

function configure(db: Database.Database, durability: 'normal' | 'strict'): void {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') throw new GpuqError('STORE_UNAVAILABLE', `SQLite refused WAL mode (journal_mode is ${String(mode)}); put the data directory on a local file system`);
  db.pragma(`synchronous = ${durability === 'strict' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = -${CACHE_SIZE_KIB}`);
  db.pragma('temp_store = MEMORY');
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
  // Refreshes the planner's statistics where they are missing or stale (cheap: bounded by analysis_limit); recommended at open for long-lived connections.
  db.pragma('optimize = 0x10002');
}

/** Builds the Store on an open, configured and migrated connection. Every statement is prepared here, once. */
function createSqliteStore(db: Database.Database): Store {
  const dependencies = prepareDependencyQueries(db);
  const jobs = prepareJobQueries(db, dependencies);
  const outputs = prepareOutputQueries(db);
  const gpuUsage = prepareGpuUsageQueries(db);
  const attempts = prepareAttemptQueries(db, dependencies, outputs, gpuUsage);
  const nodes = prepareNodeQueries(db);
  const access = prepareAccessQueries(db);
  const leader = prepareLeaderQueries(db);
  const report = prepareReportQueries(db);
  const feed = prepareFeedQueries(db);
  const pools = preparePoolQueries(db, jobs);
  const triggers = prepareTriggerQueries(db);
  const schedules = prepareScheduleQueries(db);
  const poolTasks = preparePoolTaskQueries(db);
  const pipelines = preparePipelineQueries(db, jobs, poolTasks);
  const intake = prepareIntakeQueries(db);
  const ping = db.prepare('SELECT 1');

  const queue = new GroupCommitQueue(db, mapError);
  // One server uses a SQLite file, so its own writes are all there is to hear.
  const listeners = new Set<StoreEventListener>();
  const publish = (event: StoreEvent) => {
    for (const listener of listeners) listener(event);
  };
  /**
   * Any write may have appended to the event feed (its triggers, migration 0009): readers are told once per
   * group commit, after it, and read what is new themselves.
   */
  let feedHintQueued = false;
  const hintFeed = () => {
    feedHintQueued = false;
    publish({ type: 'feed' });
  };
  const committed = <R>(out: Promise<R>): Promise<R> => {
    if (listeners.size === 0) return out;
    return out.finally(() => {
      // The writes of one group commit resolve in one turn: one hint for all of them.
      if (feedHintQueued) return;
      feedHintQueued = true;
      queueMicrotask(hintFeed);
    });
  };
  /** A write: atomic on its own (a savepoint), committed with the other writes of this event-loop turn. */
  const write =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): Promise<R> =>
      committed(queue.write(() => fn(...args)));
  /** A read: one read transaction, so every statement of the method sees the same snapshot. */
  const read =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: A): Promise<R> =>
      queue.read(() => fn(...args));
  /**
   * An operator's write: the audit record its outcome calls for (the argument after fn's `arity` ones,
   * access-store.ts AuditOf; callers may leave it out) is appended in the same transaction.
   */
  const audited =
    <A extends unknown[], R>(fn: (...args: A) => R, arity: A['length']) =>
    (...args: [...A, AuditOf<R> | undefined]): Promise<R> =>
      committed(
        queue.write(() => {
          const out = fn(...(args.slice(0, arity) as A));
          const record = (args[arity] as AuditOf<R> | undefined)?.(out);
          if (record) access.appendAudit(record);
          return out;
        }),
      );
  /** A leader-only write: its fence (the last argument) is checked in the same transaction (store/leadership.ts). */
  const fenced =
    <A extends unknown[], R>(fn: (...args: A) => R) =>
    (...args: [...A, Fence | undefined]): Promise<R> =>
      committed(
        queue.write(() => {
          leader.checkFence(args[args.length - 1] as Fence | undefined);
          return fn(...(args.slice(0, -1) as A));
        }),
      );

  const methods: StoreMethods = {
    // openSqliteStore has already migrated; this applies what a newer file set adds (each migration its own transaction).
    migrate: async () => {
      queue.flush();
      try {
        runMigrations(db, systemClock.now());
      } catch (err) {
        throw mapError(err);
      }
    },
    close: async () => {
      if (!db.open) return;
      queue.flush();
      db.pragma('optimize');
      db.close();
    },
    ping: read(() => {
      ping.get();
    }),

    submitJobs: write(jobs.submitJobs),
    getJob: read(jobs.getJob),
    listJobs: read(jobs.listJobs),
    listAttempts: read(jobs.listAttempts),
    getAttempt: read(jobs.getAttempt),
    listEvents: read(jobs.listEvents),
    listDependencies: read(jobs.listDependencies),
    cancelJobs: audited(jobs.cancelJobs, 3),
    replayJobs: audited(jobs.replayJobs, 2),
    purgeDlq: audited(jobs.purgeDlq, 2),

    schedulingSnapshot: read(attempts.schedulingSnapshot),
    applyPlan: (placements, now, leaseMs, fence) => fenced(attempts.applyPlan)(placements, now, leaseMs, fence),
    markRunning: write(attempts.markRunning),
    endAttempts: (reports, decide, now, fence) => fenced(attempts.endAttempts)(reports, decide, now, fence),
    renewLeases: write(attempts.renewLeases),
    listLiveAttempts: read(attempts.listLiveAttempts),
    listAssignedAttempts: read(attempts.listAssignedAttempts),
    attemptOrigins: read(attempts.attemptOrigins),
    listExpiredAttempts: read(attempts.listExpiredAttempts),
    getJobOutput: read(outputs.getJobOutput),
    recordLiveGpuUsage: write(gpuUsage.recordLiveGpuUsage),
    listGpuUsage: read(gpuUsage.listGpuUsage),
    idleAttemptsByQueue: read(gpuUsage.idleAttemptsByQueue),
    deviceHolders: read(gpuUsage.deviceHolders),

    upsertNode: write(nodes.upsertNode),
    heartbeatNode: write(nodes.heartbeatNode),
    nodeLeft: write(nodes.nodeLeft),
    markNodesDown: (before, fence) => fenced(nodes.markNodesDown)(before, fence),
    listNodes: read(nodes.listNodes),
    getNode: read(nodes.getNode),
    setNodeAdminState: audited(nodes.setNodeAdminState, 2),
    setNodeLogEndpoint: write(nodes.setNodeLogEndpoint),
    getNodeLogEndpoint: read(nodes.getNodeLogEndpoint),
    recordTelemetry: write(nodes.recordTelemetry),
    latestTelemetry: read(nodes.latestTelemetry),
    telemetryHistory: read(nodes.telemetryHistory),

    getMaintenanceMode: read(nodes.getMaintenanceMode),
    setMaintenanceMode: audited(nodes.setMaintenanceMode, 2),

    purgeFinishedJobs: (before, limit, fence) => fenced(jobs.purgeFinishedJobs)(before, limit, fence),
    purgeTelemetry: (before, fence) => fenced(nodes.purgeTelemetry)(before, fence),
    purgeAudit: (before, fence) => fenced(access.purgeAudit)(before, fence),
    readFeed: read(feed.readFeed),
    purgeFeed: (before, fence) => fenced(feed.purgeFeed)(before, fence),

    claimLeadership: write(leader.claimLeadership),
    resignLeadership: write(leader.resignLeadership),
    getLeadership: read(leader.getLeadership),
    seeReplica: write(leader.seeReplica),
    listReplicas: read(leader.listReplicas),
    jobStats: read(jobs.jobStats),
    jobReport: read(report.jobReport),

    createTrigger: audited(triggers.createTrigger, 2),
    deleteTrigger: audited(triggers.deleteTrigger, 1),
    getTrigger: read(triggers.getTrigger),
    listTriggers: read(triggers.listTriggers),
    setTriggersPaused: audited(triggers.setTriggersPaused, 2),
    claimTriggerFiles: (trigger, files, now, fence) => fenced(triggers.claimTriggerFiles)(trigger, files, now, fence),
    openTriggerClaims: read(triggers.openTriggerClaims),
    settleTriggerClaim: write(triggers.settleTriggerClaim),
    createSchedule: audited(schedules.createSchedule, 2),
    deleteSchedule: audited(schedules.deleteSchedule, 1),
    getSchedule: read(schedules.getSchedule),
    listSchedules: read(schedules.listSchedules),
    setSchedulesPaused: audited(schedules.setSchedulesPaused, 3),
    recordScheduleFire: (schedule, fire, upTo, fence) => fenced(schedules.recordScheduleFire)(schedule, fire, upTo, fence),
    listScheduleFires: read(schedules.listScheduleFires),
    createPipeline: audited(pipelines.createPipeline, 2),
    deletePipeline: audited(pipelines.deletePipeline, 1),
    getPipeline: read(pipelines.getPipeline),
    listPipelines: read(pipelines.listPipelines),
    createPipelineRun: write(pipelines.createPipelineRun),
    advancePipelineRun: write(pipelines.advancePipelineRun),
    getPipelineRun: read(pipelines.getPipelineRun),
    listPipelineRuns: read(pipelines.listPipelineRuns),
    runningPipelineRuns: read(pipelines.runningPipelineRuns),
    countRunningPipelineRuns: read(pipelines.countRunningPipelineRuns),
    choosePipelineOutputs: write(pipelines.choosePipelineOutputs),
    endPipelineRun: write(pipelines.endPipelineRun),
    endedPipelineRunsBefore: read(pipelines.endedPipelineRunsBefore),
    deletePipelineRuns: (ids, fence) => fenced(pipelines.deletePipelineRuns)(ids, fence),
    createPool: audited(pools.createPool, 2),
    updatePool: audited(pools.updatePool, 3),
    setPoolState: audited(pools.setPoolState, 3),
    deletePool: audited(pools.deletePool, 2),
    getPool: read(pools.getPool),
    listPools: read(pools.listPools),
    // Read first: the key exists after the first call, and a read needs no commit.
    poolCredentialKey: async () => (await read(pools.readCredentialKey)()) ?? write(pools.createCredentialKey)(systemClock.now()),
    startReplicas: (pool, generation, specs, now, fence) => fenced(pools.startReplicas)(pool, generation, specs, now, fence),
    listPoolReplicas: read(pools.listPoolReplicas),
    markReplicaReady: write(pools.markReplicaReady),
    requestReplicaStop: (jobIds, reason, now, fence) => fenced(pools.requestReplicaStop)(jobIds, reason, now, fence),
    recordReplicaEnd: write(pools.recordReplicaEnd),
    submitTasks: write(poolTasks.submitTasks),
    getTasks: read(poolTasks.getTasks),
    listTasks: read(poolTasks.listTasks),
    claimTasks: write(poolTasks.claimTasks),
    completeTasks: write(poolTasks.completeTasks),
    redeliverTasks: (now, fence) => fenced(poolTasks.redeliverTasks)(now, fence),
    replayTasks: audited(poolTasks.replayTasks, 3),
    poolBacklogs: read(poolTasks.poolBacklogs),
    lastColdStart: read(poolTasks.lastColdStart),
    purgeFinishedTasks: (before, limit, fence) => fenced(poolTasks.purgeFinishedTasks)(before, limit, fence),

    getIntakePauses: read(intake.getIntakePauses),
    setIntakePaused: audited(intake.setIntakePaused, 3),
    getSinkCursors: read(intake.getSinkCursors),
    advanceSinkCursor: write(intake.advanceSinkCursor),

    createToken: write(access.createToken),
    findTokenByHash: read(access.findTokenByHash),
    listTokens: read(access.listTokens),
    revokeToken: write(access.revokeToken),
    touchToken: write(access.touchToken),
    appendAudit: write(access.appendAudit),
    listAudit: read(access.listAudit),
  };

  return {
    ...announcing(methods, publish),
    subscribe(listener) {
      listeners.add(listener);
      return { ready: Promise.resolve(), unsubscribe: () => listeners.delete(listener) };
    },
  };
}

function mapError(err: unknown): unknown {
  if (err instanceof Database.SqliteError && UNAVAILABLE.test(err.code)) return unavailable(err, 'the SQLite database is unavailable');
  return err;
}

function unavailable(err: unknown, what: string): GpuqError {
  const detail = err instanceof Error ? err.message : String(err);
  return new GpuqError('STORE_UNAVAILABLE', `${what}: ${detail}. Check that the data directory is writable, on a local disk, with free space, and that no other gpuq server holds it busy.`, { cause: err });
}
