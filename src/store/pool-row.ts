import type { Backoff } from '../core/job-spec.js';
import type { Pool, PoolReplica, PoolSpec, PoolState, PoolTask, ReplicaEndReason, ReplicaState, TaskRedelivery, TaskState } from '../core/pool-spec.js';
import { decideAfterLostDelivery, decideAfterTaskError } from '../core/pool-task-policy.js';

/**
 * Rows of the pool tables (migration 0013) and the public objects made from them, once for both databases:
 * JSON columns are text on SQLite and parsed (json/jsonb) on PostgreSQL, booleans 0/1 or true/false. The task
 * decisions a store applies (core/pool-task-policy.ts) are turned into the columns to write here too.
 */

type Json<T> = string | T;
type Bool = number | boolean;

const json = <T>(v: Json<T>): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export interface PoolRow {
  name: string;
  spec: Json<PoolSpec>;
  state: string;
  generation: number;
  created_at: number;
  updated_at: number;
}

export const POOL_COLUMNS = 'name, spec, state, generation, created_at, updated_at';

export function poolFromRow(row: PoolRow): Pool {
  return { name: row.name, spec: json(row.spec), state: row.state as PoolState, generation: row.generation, createdAt: row.created_at, updatedAt: row.updated_at };
}

/** What a pool row keeps of its spec in columns of their own, so the task paths read no JSON. */
export function poolSpecColumns(spec: PoolSpec): { taskTimeoutMs: number; maxAttempts: number; backoff: Backoff } {
  return { taskTimeoutMs: spec.taskTimeoutSeconds * 1000, maxAttempts: spec.maxAttempts, backoff: spec.backoff };
}

/**
 * A claimed task's deadline: the pool's task timeout and a margin. The replica host enforces the exact timeout
 * (it kills the worker and ends the replica); the store's sweep is for hosts that can no longer do so.
 */
export const TASK_DEADLINE_MARGIN_MS = 5000;

/**
 * Finished tasks are also counted per second and pool (pool_task_counts, migration 0013), so the throughput counts
 * read a minute of those instead of every task finished in it; counts older than this are forgotten by the sweep.
 */
export const TASK_COUNTS_KEPT_MS = 3_600_000;

/** The second (of pool_task_counts) a time falls in. */
export const secondOf = (t: number): number => Math.floor(t / 1000);

/**
 * How poolBacklogs counts the tasks finished since `since`: whole seconds from `firstSecond` on from pool_task_counts, and
 * the part of a second before it, `[since, firstSecond * 1000)`, from the tasks themselves (none when `since` is a whole second).
 */
export function finishedCountSplit(since: number): { firstSecond: number; partialEnd: number } {
  const firstSecond = Math.ceil(since / 1000);
  return { firstSecond, partialEnd: firstSecond * 1000 };
}

export interface TaskRow {
  id: number;
  pool: string;
  state: string;
  idempotency_key: string | null;
  payload: string;
  result: string | null;
  error: string | null;
  attempts: number;
  attempt_limit: number;
  in_dlq: Bool;
  not_before: number;
  replica_job_id: number | null;
  cold: Bool;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  history: Json<TaskRedelivery[]>;
}

export const TASK_COLUMNS =
  'id, pool, state, idempotency_key, payload, result, error, attempts, attempt_limit, in_dlq, not_before, replica_job_id, cold, created_at, started_at, finished_at, history';

export function taskFromRow(row: TaskRow): PoolTask {
  return {
    id: row.id,
    pool: row.pool,
    state: row.state as TaskState,
    idempotencyKey: row.idempotency_key,
    payload: JSON.parse(row.payload) as unknown,
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    error: row.error,
    attempts: row.attempts,
    attemptLimit: row.attempt_limit,
    inDlq: Boolean(row.in_dlq),
    notBefore: row.not_before,
    replicaJobId: row.replica_job_id,
    cold: Boolean(row.cold),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    history: row.history === '[]' ? [] : json(row.history),
  };
}

/** A task just inserted, built from what was inserted: submit reads nothing back. */
export function newTask(id: number, pool: string, payloadJson: string, idempotencyKey: string | null, attemptLimit: number, cold: boolean, now: number): PoolTask {
  return {
    id,
    pool,
    state: 'queued',
    idempotencyKey,
    payload: JSON.parse(payloadJson) as unknown,
    result: null,
    error: null,
    attempts: 0,
    attemptLimit,
    inDlq: false,
    notBefore: now,
    replicaJobId: null,
    cold,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    history: [],
  };
}

/**
 * A replica row with its job and the job's latest attempt (the live one while there is one).
 * Parameters: none; callers add their WHERE (REPLICA_LIVE_OR_ENDED_SINCE) and ORDER BY.
 */
export const POOL_REPLICA_SELECT = `SELECT r.job_id, r.pool, r.generation, r.ready_at, r.ready_attempt_id, r.stop_requested, r.stop_reason, r.end_reason,
    r.end_detail, r.tasks_done, r.last_active_at, r.created_at, j.state AS job_state, j.started_at AS job_started_at, j.finished_at AS job_finished_at,
    a.id AS attempt_id, a.state AS attempt_state, a.node_id, a.devices
  FROM pool_replicas r JOIN jobs j ON j.id = r.job_id
  LEFT JOIN attempts a ON a.id = (SELECT max(x.id) FROM attempts x WHERE x.job_id = r.job_id)`;

/** Replicas whose job is not terminal, or ended at or after the time bound at `param`. */
export const replicaLiveOrEndedSince = (param: string) => `(j.state IN ('queued', 'assigned', 'running') OR j.finished_at >= ${param})`;

export interface PoolReplicaRow {
  job_id: number;
  pool: string;
  generation: number;
  ready_at: number | null;
  ready_attempt_id: number | null;
  stop_requested: Bool;
  stop_reason: string | null;
  end_reason: string | null;
  end_detail: string | null;
  tasks_done: number;
  last_active_at: number | null;
  created_at: number;
  job_state: string;
  job_started_at: number | null;
  job_finished_at: number | null;
  attempt_id: number | null;
  attempt_state: string | null;
  node_id: string | null;
  devices: Json<number[]> | null;
}

const LIVE_ATTEMPT_STATES = new Set(['assigned', 'running']);
const TERMINAL_JOB_STATES = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * A replica's state, derived from its job and that job's latest attempt (core/pool-spec.ts ReplicaState):
 * ended once its job is terminal; stopping while asked to stop; pending while its job waits to be placed;
 * ready once its live attempt said ready; starting otherwise (placed, the worker loading).
 */
export function poolReplicaFromRow(row: PoolReplicaRow): PoolReplica {
  const ended = TERMINAL_JOB_STATES.has(row.job_state);
  const stopRequested = Boolean(row.stop_requested);
  const live = row.attempt_id !== null && LIVE_ATTEMPT_STATES.has(row.attempt_state ?? '');
  const ready = live && row.ready_at !== null && row.ready_attempt_id === row.attempt_id;
  const state: ReplicaState = ended ? 'ended' : stopRequested ? 'stopping' : row.job_state === 'queued' || !live ? 'pending' : ready ? 'ready' : 'starting';
  return {
    jobId: row.job_id,
    pool: row.pool,
    generation: row.generation,
    state,
    nodeId: row.node_id,
    devices: row.devices === null ? [] : json(row.devices),
    attemptId: row.attempt_id,
    createdAt: row.created_at,
    startedAt: row.job_started_at,
    readyAt: row.ready_at,
    endedAt: ended ? row.job_finished_at : null,
    endReason: ended ? endReasonOf(row, stopRequested) : null,
    endDetail: row.end_detail,
    stopRequested,
    tasksDone: row.tasks_done,
    lastActiveAt: row.last_active_at,
  };
}

/** The reason its host reported; else the stop asked for, when it exited cleanly after it; else what its job's end says. */
function endReasonOf(row: PoolReplicaRow, stopRequested: boolean): ReplicaEndReason {
  if (row.end_reason !== null) return row.end_reason as ReplicaEndReason;
  if (stopRequested && row.stop_reason !== null && row.job_state === 'succeeded') return row.stop_reason as ReplicaEndReason;
  if (row.job_state === 'cancelled') return 'evicted';
  if (row.job_state === 'failed') return row.attempt_state === 'lost' ? 'lost' : 'crashed';
  return 'stopped';
}

/** A replica startReplicas just recorded: its job is queued, nothing placed yet. */
export function newReplica(jobId: number, pool: string, generation: number, now: number): PoolReplica {
  return {
    jobId,
    pool,
    generation,
    state: 'pending',
    nodeId: null,
    devices: [],
    attemptId: null,
    createdAt: now,
    startedAt: null,
    readyAt: null,
    endedAt: null,
    endReason: null,
    endDetail: null,
    stopRequested: false,
    tasksDone: 0,
    lastActiveAt: null,
  };
}

/** A task's columns after a delivery that ended without a result, as the store writes them. */
export interface TaskDeliveryEnd {
  id: number;
  state: 'queued' | 'failed';
  notBefore: number | null;
  inDlq: boolean;
  error: string | null;
  finishedAt: number | null;
  /** Appended to the task's history. */
  entry: TaskRedelivery;
}

interface HeldTask {
  id: number;
  attempts: number;
  attemptLimit: number;
  replicaJobId: number | null;
}

function deliveryEnd(task: HeldTask, decision: { state: 'queued'; notBefore: number; reason: string } | { state: 'failed'; reason: string }, now: number): TaskDeliveryEnd {
  const entry: TaskRedelivery = { attempt: task.attempts, replicaJobId: task.replicaJobId, reason: decision.reason, at: now };
  if (decision.state === 'queued') return { id: task.id, state: 'queued', notBefore: decision.notBefore, inDlq: false, error: null, finishedAt: null, entry };
  return { id: task.id, state: 'failed', notBefore: null, inDlq: true, error: decision.reason, finishedAt: now, entry };
}

/** The worker answered an error for the task: back to queued after the pool's backoff, or failed into the DLQ. */
export function afterTaskError(task: HeldTask, backoff: Backoff, error: string, retryable: boolean, now: number, random: number): TaskDeliveryEnd {
  return deliveryEnd(task, decideAfterTaskError({ attempts: task.attempts, attemptLimit: task.attemptLimit, backoff }, error, retryable, now, random), now);
}

export type LostReason = 'replica-ended' | 'task-timeout';

/** The delivery was lost (its replica attempt ended, or the deadline passed): redelivered at once, or failed into the DLQ. */
export function afterLostDelivery(task: HeldTask, reason: LostReason, taskTimeoutMs: number, now: number): TaskDeliveryEnd {
  const why =
    reason === 'replica-ended'
      ? `replica ${task.replicaJobId ?? '?'} ended with the task in flight`
      : `no result within the task timeout (${taskTimeoutMs / 1000}s) on replica ${task.replicaJobId ?? '?'}`;
  // Attempt budgets are per task; the backoff of a lost delivery is none (decideAfterLostDelivery redelivers at once).
  return deliveryEnd(task, decideAfterLostDelivery({ attempts: task.attempts, attemptLimit: task.attemptLimit, backoff: NO_BACKOFF }, why, now), now);
}

const NO_BACKOFF: Backoff = { initialSeconds: 1, maxSeconds: 1, multiplier: 1 };
