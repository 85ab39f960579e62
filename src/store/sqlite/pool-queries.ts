import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { PoolExistsError } from '../../core/errors.js';
import type { JobSpec } from '../../core/job-spec.js';
import type { Pool, PoolReplica, PoolSpec, PoolState, ReplicaEndReason } from '../../core/pool-spec.js';
import {
  newReplica,
  POOL_COLUMNS,
  POOL_REPLICA_SELECT,
  poolFromRow,
  poolReplicaFromRow,
  poolSpecColumns,
  replicaLiveOrEndedSince,
  type PoolReplicaRow,
  type PoolRow,
} from '../pool-row.js';
import type { JobQueries } from './job-queries.js';

/**
 * Warm worker pools (store/pool-store.ts, migration 0013) on SQLite: definitions and replicas. The tasks are in
 * pool-task-queries.ts. Functions here run inside the transaction the caller opened (sqlite-store.ts).
 */

/** Parameters: name, spec (JSON), generation, task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, created_at, updated_at. */
const INSERT_POOL = `INSERT INTO pools (name, spec, state, generation, task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, created_at, updated_at)
  VALUES (?, ?, 'active', ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING ${POOL_COLUMNS}`;
/** Parameters: spec (JSON), task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, updated_at, name. */
const UPDATE_POOL = `UPDATE pools SET spec = ?, generation = generation + 1, task_timeout_ms = ?, max_attempts = ?, backoff_initial_s = ?, backoff_max_s = ?,
    backoff_multiplier = ?, updated_at = ?
  WHERE name = ? RETURNING ${POOL_COLUMNS}`;
/** Parameters: state, updated_at, JSON array of names, state. */
const SET_STATE_OF = `UPDATE pools SET state = ?, updated_at = ? WHERE name IN (SELECT value FROM json_each(?)) AND state <> ? RETURNING ${POOL_COLUMNS}`;
/** Parameters: state, updated_at, state. */
const SET_STATE_ALL = `UPDATE pools SET state = ?, updated_at = ? WHERE state <> ? RETURNING ${POOL_COLUMNS}`;
/** Parameters: name. */
const SELECT_POOL = `SELECT ${POOL_COLUMNS} FROM pools WHERE name = ?`;
const SELECT_POOLS = `SELECT ${POOL_COLUMNS} FROM pools ORDER BY name`;
/** Its replica jobs not yet ended (the caller cancels them). Parameters: pool. */
const SELECT_LIVE_REPLICA_JOBS = `SELECT r.job_id FROM pool_replicas r JOIN jobs j ON j.id = r.job_id
  WHERE r.pool = ? AND j.state IN ('queued', 'assigned', 'running') ORDER BY r.job_id`;
/** Each: parameters: pool. */
const DELETE_POOL_TASKS = `DELETE FROM pool_tasks WHERE pool = ?`;
const DELETE_POOL_REPLICAS = `DELETE FROM pool_replicas WHERE pool = ?`;
const DELETE_POOL_COUNTS = `DELETE FROM pool_task_counts WHERE pool = ?`;
/** The pool.deleted feed event (0013) carries updated_at: set to the time of the delete first. Parameters: updated_at, name. */
const TOUCH_POOL = `UPDATE pools SET updated_at = ? WHERE name = ?`;
/** Parameters: name. */
const DELETE_POOL = `DELETE FROM pools WHERE name = ?`;

const SELECT_CREDENTIAL_KEY = `SELECT key FROM pool_credential_key WHERE id = 1`;
/** Parameters: key, created_at. */
const INSERT_CREDENTIAL_KEY = `INSERT INTO pool_credential_key (id, key, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`;

/** Parameters: job_id, pool, generation, created_at. */
const INSERT_REPLICA = `INSERT INTO pool_replicas (job_id, pool, generation, created_at) VALUES (?, ?, ?, ?)`;
/** Parameters: endedSince. */
const SELECT_REPLICAS = `${POOL_REPLICA_SELECT} WHERE ${replicaLiveOrEndedSince('?')} ORDER BY r.pool, r.job_id`;
/** Parameters: pool, endedSince. */
const SELECT_REPLICAS_OF = `${POOL_REPLICA_SELECT} WHERE r.pool = ? AND ${replicaLiveOrEndedSince('?')} ORDER BY r.job_id`;
/**
 * Ready, for the replica's live attempt only; ready_at is its first ready (a repeated ready keeps it).
 * Parameters: attempt id, now (ready_at), attempt id (ready_attempt_id), now (last_active_at), job id, attempt id, job id.
 */
const MARK_READY = `UPDATE pool_replicas SET ready_at = CASE WHEN ready_attempt_id IS ? AND ready_at IS NOT NULL THEN ready_at ELSE ? END,
    ready_attempt_id = ?, last_active_at = ?
  WHERE job_id = ? AND EXISTS (SELECT 1 FROM attempts WHERE id = ? AND job_id = ? AND state IN ('assigned', 'running'))`;
/** The first stop asked for keeps its reason. Parameters: reason, JSON array of job ids. */
const REQUEST_STOP = `UPDATE pool_replicas SET stop_requested = 1, stop_reason = coalesce(stop_reason, ?) WHERE job_id IN (SELECT value FROM json_each(?))`;
/** The first end reported wins. Parameters: reason, detail, job id. */
// A host that stopped cleanly when asked reports 'stopped': the reason it was asked for (idle, replaced, …) is the one kept.
const RECORD_END = `UPDATE pool_replicas SET end_reason = CASE WHEN @reason = 'stopped' THEN coalesce(stop_reason, @reason) ELSE @reason END, end_detail = @detail WHERE job_id = @jobId AND end_reason IS NULL`;

export type PoolQueries = ReturnType<typeof preparePoolQueries>;

export function preparePoolQueries(db: Database, jobs: JobQueries) {
  const insertPool = db.prepare<[string, string, number, number, number, number, number, number, number, number], PoolRow>(INSERT_POOL);
  const updatePoolStmt = db.prepare<[string, number, number, number, number, number, number, string], PoolRow>(UPDATE_POOL);
  const setStateOf = db.prepare<[string, number, string, string], PoolRow>(SET_STATE_OF);
  const setStateAll = db.prepare<[string, number, string], PoolRow>(SET_STATE_ALL);
  const selectPool = db.prepare<[string], PoolRow>(SELECT_POOL);
  const selectPools = db.prepare<[], PoolRow>(SELECT_POOLS);
  const selectLiveReplicaJobs = db.prepare<[string], { job_id: number }>(SELECT_LIVE_REPLICA_JOBS);
  const deletePoolTasks = db.prepare<[string]>(DELETE_POOL_TASKS);
  const deletePoolReplicas = db.prepare<[string]>(DELETE_POOL_REPLICAS);
  const deletePoolCounts = db.prepare<[string]>(DELETE_POOL_COUNTS);
  const touchPool = db.prepare<[number, string]>(TOUCH_POOL);
  const deletePoolStmt = db.prepare<[string]>(DELETE_POOL);
  const selectCredentialKey = db.prepare<[], { key: string }>(SELECT_CREDENTIAL_KEY);
  const insertCredentialKey = db.prepare<[string, number]>(INSERT_CREDENTIAL_KEY);
  const insertReplica = db.prepare<[number, string, number, number]>(INSERT_REPLICA);
  const selectReplicas = db.prepare<[number], PoolReplicaRow>(SELECT_REPLICAS);
  const selectReplicasOf = db.prepare<[string, number], PoolReplicaRow>(SELECT_REPLICAS_OF);
  const markReady = db.prepare<[number, number, number, number, number, number, number]>(MARK_READY);
  const requestStop = db.prepare<[string, string]>(REQUEST_STOP);
  const recordEnd = db.prepare<[{ reason: string; detail: string | null; jobId: number }]>(RECORD_END);

  function createPool(spec: PoolSpec, now: number): Pool {
    const c = poolSpecColumns(spec);
    const row = insertPool.get(spec.name, JSON.stringify(spec), 1, c.taskTimeoutMs, c.maxAttempts, c.backoff.initialSeconds, c.backoff.maxSeconds, c.backoff.multiplier, now, now);
    if (!row) throw new PoolExistsError(spec.name);
    return poolFromRow(row);
  }

  function updatePool(name: string, spec: PoolSpec, now: number): Pool | null {
    const c = poolSpecColumns(spec);
    const row = updatePoolStmt.get(JSON.stringify(spec), c.taskTimeoutMs, c.maxAttempts, c.backoff.initialSeconds, c.backoff.maxSeconds, c.backoff.multiplier, now, name);
    return row ? poolFromRow(row) : null;
  }

  function setPoolState(names: string[] | 'all', state: PoolState, now: number): Pool[] {
    const rows = names === 'all' ? setStateAll.all(state, now, state) : setStateOf.all(state, now, JSON.stringify(names), state);
    return rows.map(poolFromRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  function deletePool(name: string, now: number): number[] | null {
    if (!selectPool.get(name)) return null;
    const live = selectLiveReplicaJobs.all(name).map((r) => r.job_id);
    deletePoolTasks.run(name);
    deletePoolReplicas.run(name);
    deletePoolCounts.run(name);
    touchPool.run(now, name);
    deletePoolStmt.run(name);
    return live;
  }

  function getPool(name: string): Pool | null {
    const row = selectPool.get(name);
    return row ? poolFromRow(row) : null;
  }

  function listPools(): Pool[] {
    return selectPools.all().map(poolFromRow);
  }

  function readCredentialKey(): string | null {
    return selectCredentialKey.get()?.key ?? null;
  }

  /** Made at the first call; a second writer (another process on the file) keeps the first's key. */
  function createCredentialKey(now: number): string {
    insertCredentialKey.run(randomBytes(32).toString('hex'), now);
    return selectCredentialKey.get()!.key;
  }

  /** Submits the replica jobs as submitJobs does (job-queries.ts) and records them, or nothing when the pool is gone, stopped or at another generation. */
  function startReplicas(pool: string, generation: number, specs: JobSpec[], now: number): PoolReplica[] {
    const row = selectPool.get(pool);
    if (!row || row.state !== 'active' || row.generation !== generation || specs.length === 0) return [];
    const replicas: PoolReplica[] = [];
    for (const { job, created } of jobs.submitJobs(specs, now, null)) {
      if (!created) continue;
      insertReplica.run(job.id, pool, generation, now);
      replicas.push(newReplica(job.id, pool, generation, now));
    }
    return replicas;
  }

  function listPoolReplicas(filter: { pool?: string; endedSince: number }): PoolReplica[] {
    const rows = filter.pool === undefined ? selectReplicas.all(filter.endedSince) : selectReplicasOf.all(filter.pool, filter.endedSince);
    return rows.map(poolReplicaFromRow);
  }

  function markReplicaReady(jobId: number, attemptId: number, now: number): boolean {
    return markReady.run(attemptId, now, attemptId, now, jobId, attemptId, jobId).changes > 0;
  }

  function requestReplicaStop(jobIds: number[], reason: ReplicaEndReason, _now: number): void {
    if (jobIds.length > 0) requestStop.run(reason, JSON.stringify(jobIds));
  }

  function recordReplicaEnd(jobId: number, reason: ReplicaEndReason, detail: string | null, _now: number): void {
    recordEnd.run({ reason, detail, jobId });
  }

  return {
    createPool,
    updatePool,
    setPoolState,
    deletePool,
    getPool,
    listPools,
    readCredentialKey,
    createCredentialKey,
    startReplicas,
    listPoolReplicas,
    markReplicaReady,
    requestReplicaStop,
    recordReplicaEnd,
  };
}
