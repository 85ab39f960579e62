import { randomBytes } from 'node:crypto';
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
import type { Sql } from './postgres-pool.js';
import * as jobs from './job-queries.js';

/**
 * Warm worker pools (store/pool-store.ts, migration 0013) on PostgreSQL: definitions and replicas. The tasks are in
 * pool-task-queries.ts. Each function runs in the transaction the caller opened (postgres-store.ts), or, where it
 * is one statement, on its own.
 *
 * Lock order: a pools row before anything else (startReplicas holds its pool FOR SHARE while it submits the
 * replica jobs, so a stop, an update or a delete waits for it and is never undone by a replica of the old
 * definition); nothing locks a pools row after a jobs row.
 */

/** Parameters: name, spec (JSON), task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, now. */
const INSERT_POOL = `INSERT INTO pools (name, spec, state, generation, task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, created_at, updated_at)
  VALUES ($1, $2::json, 'active', 1, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (name) DO NOTHING RETURNING ${POOL_COLUMNS}`;
/** Parameters: name, spec (JSON), task_timeout_ms, max_attempts, backoff_initial_s, backoff_max_s, backoff_multiplier, updated_at. */
const UPDATE_POOL = `UPDATE pools SET spec = $2::json, generation = generation + 1, task_timeout_ms = $3, max_attempts = $4, backoff_initial_s = $5,
    backoff_max_s = $6, backoff_multiplier = $7, updated_at = $8
  WHERE name = $1 RETURNING ${POOL_COLUMNS}`;
/** Parameters: state, updated_at, names text[] (null: all). */
const SET_STATE = `UPDATE pools SET state = $1, updated_at = $2 WHERE state <> $1 AND ($3::text[] IS NULL OR name = ANY($3::text[])) RETURNING ${POOL_COLUMNS}`;
/** Parameters: name. */
const SELECT_POOL = `SELECT ${POOL_COLUMNS} FROM pools WHERE name = $1`;
const SELECT_POOLS = `SELECT ${POOL_COLUMNS} FROM pools ORDER BY name`;
/** The pool.deleted feed event (0013) carries updated_at: set to the time of the delete first; locks the row. Parameters: name, updated_at. */
const TOUCH_POOL = `UPDATE pools SET updated_at = $2 WHERE name = $1 RETURNING name`;
/** Deletes the pool's tasks and replica rows; returns its replica jobs not yet ended (the caller cancels them). Parameters: name. */
const DELETE_POOL_CONTENTS = `WITH live AS (
    SELECT r.job_id FROM pool_replicas r JOIN jobs j ON j.id = r.job_id WHERE r.pool = $1 AND j.state IN ('queued', 'assigned', 'running')
  ), tasks_gone AS (
    DELETE FROM pool_tasks WHERE pool = $1
  ), replicas_gone AS (
    DELETE FROM pool_replicas WHERE pool = $1
  ), counts_gone AS (
    DELETE FROM pool_task_counts WHERE pool = $1
  )
  SELECT job_id FROM live ORDER BY job_id`;
/** Parameters: name. */
const DELETE_POOL = `DELETE FROM pools WHERE name = $1`;

const SELECT_CREDENTIAL_KEY = `SELECT key FROM pool_credential_key WHERE id = 1`;
/** Parameters: key, created_at. */
const INSERT_CREDENTIAL_KEY = `INSERT INTO pool_credential_key (id, key, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING`;

/** Parameters: name. */
const SHARE_POOL = `SELECT state, generation FROM pools WHERE name = $1 FOR SHARE`;
/** Parameters: job ids bigint[], pool, generation, created_at. */
const INSERT_REPLICAS = `INSERT INTO pool_replicas (job_id, pool, generation, created_at) SELECT job_id, $2, $3, $4 FROM unnest($1::bigint[]) AS r(job_id)`;
/** Parameters: endedSince. */
const SELECT_REPLICAS = `${POOL_REPLICA_SELECT} WHERE ${replicaLiveOrEndedSince('$1')} ORDER BY r.pool, r.job_id`;
/** Parameters: endedSince, pool. */
const SELECT_REPLICAS_OF = `${POOL_REPLICA_SELECT} WHERE r.pool = $2 AND ${replicaLiveOrEndedSince('$1')} ORDER BY r.job_id`;
/** Ready, for the replica's live attempt only; ready_at is its first ready (a repeated ready keeps it). Parameters: job id, attempt id, now. */
const MARK_READY = `UPDATE pool_replicas SET ready_at = CASE WHEN ready_attempt_id = $2 AND ready_at IS NOT NULL THEN ready_at ELSE $3 END,
    ready_attempt_id = $2, last_active_at = $3
  WHERE job_id = $1 AND EXISTS (SELECT 1 FROM attempts WHERE id = $2 AND job_id = $1 AND state IN ('assigned', 'running'))`;
/** The first stop asked for keeps its reason. Parameters: reason, job ids bigint[]. */
const REQUEST_STOP = `UPDATE pool_replicas SET stop_requested = true, stop_reason = coalesce(stop_reason, $1) WHERE job_id = ANY($2::bigint[])`;
/** The first end reported wins. Parameters: job id, reason, detail. */
// A host that stopped cleanly when asked reports 'stopped': the reason it was asked for (idle, replaced, …) is the one kept.
const RECORD_END = `UPDATE pool_replicas SET end_reason = CASE WHEN $2 = 'stopped' THEN coalesce(stop_reason, $2) ELSE $2 END, end_detail = $3 WHERE job_id = $1 AND end_reason IS NULL`;

const specParams = (spec: PoolSpec) => {
  const c = poolSpecColumns(spec);
  return [JSON.stringify(spec), c.taskTimeoutMs, c.maxAttempts, c.backoff.initialSeconds, c.backoff.maxSeconds, c.backoff.multiplier];
};

/** Throws PoolExistsError when the name is taken (ON CONFLICT: the transaction stays usable for its audit record). */
export async function createPool(sql: Sql, spec: PoolSpec, now: number): Promise<Pool> {
  const [row] = await sql.query<PoolRow>(INSERT_POOL, [spec.name, ...specParams(spec), now]);
  if (!row) throw new PoolExistsError(spec.name);
  return poolFromRow(row);
}

export async function updatePool(sql: Sql, name: string, spec: PoolSpec, now: number): Promise<Pool | null> {
  const [row] = await sql.query<PoolRow>(UPDATE_POOL, [name, ...specParams(spec), now]);
  return row ? poolFromRow(row) : null;
}

export async function setPoolState(sql: Sql, names: string[] | 'all', state: PoolState, now: number): Promise<Pool[]> {
  const rows = await sql.query<PoolRow>(SET_STATE, [state, now, names === 'all' ? null : names]);
  return rows.map(poolFromRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** In a write transaction. */
export async function deletePool(sql: Sql, name: string, now: number): Promise<number[] | null> {
  if ((await sql.query(TOUCH_POOL, [name, now])).length === 0) return null;
  const live = (await sql.query<{ job_id: number }>(DELETE_POOL_CONTENTS, [name])).map((r) => r.job_id);
  await sql.execute(DELETE_POOL, [name]);
  return live;
}

export async function getPool(sql: Sql, name: string): Promise<Pool | null> {
  const [row] = await sql.query<PoolRow>(SELECT_POOL, [name]);
  return row ? poolFromRow(row) : null;
}

export async function listPools(sql: Sql): Promise<Pool[]> {
  return (await sql.query<PoolRow>(SELECT_POOLS)).map(poolFromRow);
}

/**
 * Made at the first call. Servers calling at once each try to insert their own key; the primary key lets one in and
 * the others' DO NOTHING, and the SELECT after (a statement of its own, so it sees that commit) reads the one kept.
 */
export async function poolCredentialKey(sql: Sql, now: number): Promise<string> {
  const [found] = await sql.query<{ key: string }>(SELECT_CREDENTIAL_KEY);
  if (found) return found.key;
  await sql.execute(INSERT_CREDENTIAL_KEY, [randomBytes(32).toString('hex'), now]);
  const [kept] = await sql.query<{ key: string }>(SELECT_CREDENTIAL_KEY);
  if (!kept) throw new Error('the pool credential key was neither inserted nor found');
  return kept.key;
}

/** In a write transaction: the replica jobs as submitJobs inserts jobs (job-queries.ts), and their replica rows. */
export async function startReplicas(sql: Sql, pool: string, generation: number, specs: JobSpec[], now: number): Promise<PoolReplica[]> {
  const [row] = await sql.query<{ state: string; generation: number }>(SHARE_POOL, [pool]);
  if (!row || row.state !== 'active' || row.generation !== generation || specs.length === 0) return [];
  const ids = (await jobs.submitJobs(sql, specs, now, null)).flatMap((o) => (o.created ? [o.job.id] : []));
  if (ids.length > 0) await sql.execute(INSERT_REPLICAS, [ids, pool, generation, now]);
  return ids.map((id) => newReplica(id, pool, generation, now));
}

export async function listPoolReplicas(sql: Sql, filter: { pool?: string; endedSince: number }): Promise<PoolReplica[]> {
  const rows = filter.pool === undefined ? await sql.query<PoolReplicaRow>(SELECT_REPLICAS, [filter.endedSince]) : await sql.query<PoolReplicaRow>(SELECT_REPLICAS_OF, [filter.endedSince, filter.pool]);
  return rows.map(poolReplicaFromRow);
}

/** One statement, on its own. */
export async function markReplicaReady(sql: Sql, jobId: number, attemptId: number, now: number): Promise<boolean> {
  return (await sql.execute(MARK_READY, [jobId, attemptId, now])) > 0;
}

export async function requestReplicaStop(sql: Sql, jobIds: number[], reason: ReplicaEndReason): Promise<void> {
  if (jobIds.length > 0) await sql.execute(REQUEST_STOP, [reason, jobIds]);
}

/** One statement, on its own. */
export async function recordReplicaEnd(sql: Sql, jobId: number, reason: ReplicaEndReason, detail: string | null): Promise<void> {
  await sql.execute(RECORD_END, [jobId, reason, detail]);
}
