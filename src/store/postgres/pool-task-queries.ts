import type { JobOwner } from '../../core/access.js';
import { PoolNotFoundError, PoolStoppedError } from '../../core/errors.js';
import type { PoolTask, TaskState } from '../../core/pool-spec.js';
import type { Page, PageRequest } from '../page.js';
import type { ClaimedTask, ColdStart, CompletedTask, PoolBacklog, Redelivered, TaskOutcome } from '../pool-store.js';
import {
  afterLostDelivery,
  afterTaskError,
  finishedCountSplit,
  newTask,
  secondOf,
  TASK_COLUMNS,
  TASK_COUNTS_KEPT_MS,
  TASK_DEADLINE_MARGIN_MS,
  taskFromRow,
  type TaskDeliveryEnd,
  type TaskRow,
} from '../pool-row.js';
import { listTasksSql, taskPage, type TaskFilter } from '../pool-task-listing.js';
import type { Sql } from './postgres-pool.js';
import { unique } from './shared-sql.js';

/**
 * Pool tasks (store/pool-store.ts, migration 0013) on PostgreSQL: submit, claim, complete, redeliver, replay, counts.
 *
 * Several servers hand out one pool's tasks at once: a claim locks the queued tasks it takes FOR UPDATE SKIP LOCKED,
 * so two claims never take one task and never wait for each other; the sweep skips tasks a completion holds.
 * Lock order: a pools row (submit holds it FOR SHARE), then pool_tasks rows (by id), then pool_replicas rows.
 */

const TASK_COLUMNS_T = TASK_COLUMNS.split(', ').map((c) => `t.${c}`).join(', ');

/** The pool, held FOR SHARE so a stop or a delete waits for the submit; `cold` when no replica is ready. Parameters: name. */
const SHARE_POOL_FOR_SUBMIT = `SELECT p.state, p.max_attempts, NOT EXISTS (SELECT 1 FROM pool_replicas r JOIN jobs j ON j.id = r.job_id
    WHERE r.pool = p.name AND r.ready_at IS NOT NULL AND NOT r.stop_requested AND j.state IN ('queued', 'assigned', 'running')) AS cold
  FROM pools p WHERE p.name = $1 FOR SHARE OF p`;
/** Parameters: pool, keys text[]. */
const SELECT_TASKS_BY_KEY = `SELECT ${TASK_COLUMNS} FROM pool_tasks WHERE pool = $1 AND idempotency_key = ANY($2::text[])`;
/**
 * Inserts a batch; a key another server inserted meanwhile is skipped (inserted = false). Ids are taken in the batch's
 * order; rows go in in key order, so two servers inserting overlapping keys wait on each other in one order.
 * Parameters: pool, keys text[], payloads text[], attempt_limit, now, cold, owner, owner_token_id.
 */
const INSERT_TASKS = `WITH t AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('pool_tasks', 'id')) AS id, key, payload, ord
    FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(key, payload, ord)
  ), ins AS (
    INSERT INTO pool_tasks (id, pool, state, idempotency_key, payload, attempt_limit, not_before, cold, created_at, owner, owner_token_id)
    SELECT id, $1, 'queued', key, payload, $4, $5, $6, $5, $7, $8 FROM t ORDER BY key
    ON CONFLICT (pool, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
  )
  SELECT t.id, ins.id IS NOT NULL AS inserted FROM t LEFT JOIN ins ON ins.id = t.id ORDER BY t.ord`;
/** Parameters: pool, ids bigint[]. */
const SELECT_TASKS = `SELECT ${TASK_COLUMNS} FROM pool_tasks WHERE pool = $1 AND id = ANY($2::bigint[])`;

/**
 * One statement: checks the replica attempt (its first row: live, stop); hands back the tasks running under this attempt
 * that its host does not hold (`lost`: a claim whose answer never reached it), at the same attempt number with a fresh
 * deadline; claims up to `max` minus those of the runnable tasks of its pool oldest first; marks the replica active.
 * The look for lost tasks is one count over the running index, and nothing more while it finds no more tasks than the
 * host holds (a one-time filter). Lost rows are taken in id order and skipped while locked (a completion or the sweep
 * holds them: they are being decided). All CTEs see one snapshot, so a task claimed here is never also counted lost.
 * Rows: the check (id null), then the tasks, each with `lost`. Parameters: job id, attempt id, max, now, deadline
 * margin, held ids bigint[].
 */
const CLAIM = `WITH c AS (
    SELECT a.state IN ('assigned', 'running') AS live, r.pool, (r.job_id IS NULL OR p.name IS NULL OR r.stop_requested OR p.state <> 'active') AS stop,
      p.task_timeout_ms
    FROM attempts a LEFT JOIN pool_replicas r ON r.job_id = a.job_id LEFT JOIN pools p ON p.name = r.pool
    WHERE a.id = $2 AND a.job_id = $1
  ), orphaned AS MATERIALIZED (
    SELECT t.id FROM pool_tasks t
    WHERE $3 > 0 AND (SELECT live AND NOT stop FROM c)
      AND (SELECT count(*) FROM pool_tasks r WHERE r.attempt_id = $2 AND r.state = 'running') > cardinality($6::bigint[])
      AND t.attempt_id = $2 AND t.state = 'running' AND t.replica_job_id = $1 AND t.id NOT IN (SELECT unnest($6::bigint[]))
    ORDER BY t.id LIMIT $3 FOR UPDATE OF t SKIP LOCKED
  ), rehanded AS (
    UPDATE pool_tasks t SET deadline = $4 + (SELECT task_timeout_ms FROM c) + $5
    FROM orphaned WHERE t.id = orphaned.id
    RETURNING t.id, t.attempts, t.payload
  ), picked AS MATERIALIZED (
    SELECT t.id FROM pool_tasks t
    WHERE t.pool = (SELECT pool FROM c WHERE live AND NOT stop) AND t.state = 'queued' AND t.not_before <= $4
    ORDER BY t.id LIMIT greatest(0, $3 - (SELECT count(*) FROM orphaned)) FOR UPDATE OF t SKIP LOCKED
  ), claimed AS (
    UPDATE pool_tasks t SET state = 'running', attempts = t.attempts + 1, replica_job_id = $1, attempt_id = $2, started_at = $4,
      deadline = $4 + (SELECT task_timeout_ms FROM c) + $5
    FROM picked WHERE t.id = picked.id
    RETURNING t.id, t.attempts, t.payload
  ), touched AS (
    UPDATE pool_replicas SET last_active_at = $4 WHERE job_id = $1 AND (EXISTS (SELECT 1 FROM claimed) OR EXISTS (SELECT 1 FROM rehanded))
  )
  SELECT NULL::bigint AS id, NULL::integer AS attempts, NULL::text AS payload, NULL::boolean AS lost, live, stop FROM c
  UNION ALL
  SELECT id, attempts, payload, true, NULL, NULL FROM rehanded
  UNION ALL
  SELECT id, attempts, payload, false, NULL, NULL FROM claimed`;

/** The tasks the replica attempt holds, locked in id order, with their pool's backoff. Parameters: task ids bigint[], attempt id, job id. */
const LOCK_HELD = `SELECT t.id, t.attempts, t.attempt_limit, t.created_at, t.started_at, t.cold, p.name AS pool,
    p.backoff_initial_s, p.backoff_max_s, p.backoff_multiplier
  FROM pool_tasks t JOIN pools p ON p.name = t.pool
  WHERE t.id = ANY($1::bigint[]) AND t.state = 'running' AND t.attempt_id = $2 AND t.replica_job_id = $3
  ORDER BY t.id FOR UPDATE OF t`;
/**
 * Deliveries that ended without a result (pool-row.ts TaskDeliveryEnd), each entry appended to the history.
 * `first` is the number of the first of the seven array parameters:
 * id bigint[], state text[], not_before float8[], in_dlq bool[], error text[], finished_at float8[], entry (JSON) text[].
 */
const endDeliveriesCte = (first: number) => {
  const p = (i: number) => `$${first + i}`;
  return `UPDATE pool_tasks t SET state = u.state, not_before = coalesce(u.not_before, t.not_before), in_dlq = u.in_dlq, error = u.error,
      finished_at = u.finished_at, history = t.history || jsonb_build_array(u.entry::jsonb)
    FROM unnest(${p(0)}::bigint[], ${p(1)}::text[], ${p(2)}::float8[], ${p(3)}::bool[], ${p(4)}::text[], ${p(5)}::float8[], ${p(6)}::text[])
      AS u(id, state, not_before, in_dlq, error, finished_at, entry)
    WHERE t.id = u.id`;
};
/** Adds to a second's counts of finished tasks (pool_task_counts). Parameters at `first`: second, pool, succeeded, failed. */
const addCountsSql = (first: number, from = '') => `INSERT INTO pool_task_counts (second, pool, succeeded, failed)
  SELECT $${first}::bigint, $${first + 1}::text, $${first + 2}::bigint, $${first + 3}::bigint${from} ON CONFLICT (second, pool)
  DO UPDATE SET succeeded = pool_task_counts.succeeded + excluded.succeeded, failed = pool_task_counts.failed + excluded.failed`;
/**
 * Writes a completion: results, errors, the replica's count, then (after the replica row: one lock order) the second's
 * counts of tasks that ended. Parameters: result ids bigint[], results text[], now, the seven arrays of endDeliveriesCte,
 * tasks done, job id, second, pool, succeeded, failed.
 */
const WRITE_COMPLETION = `WITH ok AS (
    UPDATE pool_tasks t SET state = 'succeeded', result = u.result, finished_at = $3
    FROM unnest($1::bigint[], $2::text[]) AS u(id, result) WHERE t.id = u.id
  ), failed AS (
    ${endDeliveriesCte(4)}
  ), done AS (
    UPDATE pool_replicas SET tasks_done = tasks_done + $11, last_active_at = $3 WHERE job_id = $12 RETURNING job_id
  )
  ${addCountsSql(13, ' FROM done WHERE $15::bigint + $16::bigint > 0')}`;

/**
 * Running tasks whose replica attempt is no longer live, or whose deadline passed; those a completion holds right now are
 * skipped (it decides them). Parameters: now.
 */
const LOCK_LOST = `SELECT t.id, t.pool, t.attempts, t.attempt_limit, t.replica_job_id, coalesce(p.task_timeout_ms, 0) AS task_timeout_ms,
    (a.state IS NULL OR a.state NOT IN ('assigned', 'running')) AS ended
  FROM pool_tasks t LEFT JOIN attempts a ON a.id = t.attempt_id LEFT JOIN pools p ON p.name = t.pool
  WHERE t.state = 'running' AND (a.state IS NULL OR a.state NOT IN ('assigned', 'running') OR t.deadline < $1)
  ORDER BY t.id FOR UPDATE OF t SKIP LOCKED`;
/** Parameters: the seven arrays of endDeliveriesCte. */
const WRITE_LOST = endDeliveriesCte(1);
/** Parameters: second, pool, succeeded, failed. */
const ADD_COUNTS = addCountsSql(1);
/** Parameters: the first second kept. */
const FORGET_COUNTS = `DELETE FROM pool_task_counts WHERE second < $1`;

/** DLQ tasks back to queued with a fresh budget of the pool's maxAttempts. Parameters: pool, now, ids bigint[] (null: all). */
const REPLAY = `UPDATE pool_tasks t SET state = 'queued', in_dlq = false, attempt_limit = t.attempt_limit + p.max_attempts, not_before = $2,
    error = NULL, result = NULL, finished_at = NULL
  FROM pools p WHERE p.name = $1 AND t.pool = $1 AND t.in_dlq AND ($3::bigint[] IS NULL OR t.id = ANY($3::bigint[]))
  RETURNING ${TASK_COLUMNS_T}`;

/** Finished tasks: whole seconds from pool_task_counts, the part of a second before them from the tasks (pool-row.ts finishedCountSplit). Parameters: now, since, first second. */
const BACKLOGS = `SELECT p.name AS pool, coalesce(q.runnable, 0) AS runnable, coalesce(q.queued, 0) AS queued, coalesce(r.running, 0) AS running,
    coalesce(f.succeeded, 0) AS succeeded, coalesce(f.failed, 0) AS failed
  FROM pools p
  LEFT JOIN (SELECT pool, count(*) AS queued, count(*) FILTER (WHERE not_before <= $1) AS runnable FROM pool_tasks WHERE state = 'queued' GROUP BY pool) q
    ON q.pool = p.name
  LEFT JOIN (SELECT pool, count(*) AS running FROM pool_tasks WHERE state = 'running' GROUP BY pool) r ON r.pool = p.name
  LEFT JOIN (SELECT pool, sum(succeeded)::bigint AS succeeded, sum(failed)::bigint AS failed FROM (
      SELECT pool, succeeded, failed FROM pool_task_counts WHERE second >= $3
      UNION ALL
      SELECT pool, (state = 'succeeded')::int::bigint, (state = 'failed')::int::bigint FROM pool_tasks WHERE finished_at >= $2 AND finished_at < $3 * 1000.0
    ) c GROUP BY pool) f ON f.pool = p.name
  ORDER BY p.name`;
/** Parameters: pool. */
const SELECT_LAST_COLD = `SELECT t.id, t.replica_job_id, t.created_at, t.finished_at, r.ready_at FROM pool_tasks t
  LEFT JOIN pool_replicas r ON r.job_id = t.replica_job_id WHERE t.pool = $1 AND t.cold AND t.state = 'succeeded' ORDER BY t.id DESC LIMIT 1`;
/** Rows another server is purging are skipped. Parameters: before, limit. */
const PURGE_FINISHED = `DELETE FROM pool_tasks WHERE id IN (
    SELECT id FROM pool_tasks WHERE finished_at < $1 AND NOT in_dlq ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED)`;

interface HeldRow {
  id: number;
  attempts: number;
  attempt_limit: number;
  created_at: number;
  started_at: number;
  cold: boolean;
  pool: string;
  backoff_initial_s: number;
  backoff_max_s: number;
  backoff_multiplier: number;
}
interface LostRow {
  id: number;
  pool: string;
  attempts: number;
  attempt_limit: number;
  replica_job_id: number | null;
  task_timeout_ms: number;
  ended: boolean;
}

/** The seven array parameters of endDeliveriesCte. */
function deliveryEndColumns(ends: TaskDeliveryEnd[]): unknown[] {
  const col = <T>(f: (e: TaskDeliveryEnd) => T): T[] => ends.map(f);
  return [col((e) => e.id), col((e) => e.state), col((e) => e.notBefore), col((e) => e.inDlq), col((e) => e.error), col((e) => e.finishedAt), col((e) => JSON.stringify(e.entry))];
}

/** In a write transaction. */
export async function submitTasks(sql: Sql, pool: string, tasks: { payloadJson: string; idempotencyKey?: string }[], now: number, owner: JobOwner | null = null): Promise<{ task: PoolTask; created: boolean }[]> {
  const [p] = await sql.query<{ state: string; max_attempts: number; cold: boolean }>(SHARE_POOL_FOR_SUBMIT, [pool]);
  if (!p) throw new PoolNotFoundError(pool);
  if (p.state !== 'active') throw new PoolStoppedError(pool);
  const byKey = new Map<string, PoolTask>();
  const remember = (rows: TaskRow[]) => rows.forEach((r) => byKey.set(r.idempotency_key!, taskFromRow(r)));
  const keys = unique(tasks.flatMap((t) => (t.idempotencyKey === undefined ? [] : [t.idempotencyKey])));
  if (keys.length > 0) remember(await sql.query<TaskRow>(SELECT_TASKS_BY_KEY, [pool, keys]));
  // What to insert: every task without a key, and the first of each key not stored; a repeat in the call returns that first one.
  const fresh: number[] = [];
  const batchKeys = new Set<string>();
  tasks.forEach((t, i) => {
    const key = t.idempotencyKey;
    if (key !== undefined && (byKey.has(key) || batchKeys.has(key))) return;
    if (key !== undefined) batchKeys.add(key);
    fresh.push(i);
  });
  const created = new Map<number, PoolTask>();
  if (fresh.length > 0) {
    const rows = await sql.query<{ id: number; inserted: boolean }>(INSERT_TASKS, [
      pool, fresh.map((i) => tasks[i]!.idempotencyKey ?? null), fresh.map((i) => tasks[i]!.payloadJson), p.max_attempts, now, p.cold, owner?.name ?? null, owner?.tokenId ?? null,
    ]);
    rows.forEach((r, k) => {
      const t = tasks[fresh[k]!]!;
      if (r.inserted) created.set(fresh[k]!, newTask(r.id, pool, t.payloadJson, t.idempotencyKey ?? null, p.max_attempts, p.cold, now));
    });
    // A key another server inserted since the first look: its task is the one to return.
    const raced = fresh.filter((i) => !created.has(i)).map((i) => tasks[i]!.idempotencyKey!);
    if (raced.length > 0) remember(await sql.query<TaskRow>(SELECT_TASKS_BY_KEY, [pool, raced]));
  }
  for (const t of created.values()) if (t.idempotencyKey !== null) byKey.set(t.idempotencyKey, t);
  return tasks.map((t, i) => {
    const task = created.get(i);
    if (task) return { task, created: true };
    const existing = byKey.get(t.idempotencyKey ?? '');
    if (!existing) throw new Error(`task with idempotency key "${t.idempotencyKey}" was neither inserted nor found`);
    return { task: existing, created: false };
  });
}

export async function getTasks(sql: Sql, pool: string, ids: number[]): Promise<PoolTask[]> {
  if (ids.length === 0) return [];
  const byId = new Map((await sql.query<TaskRow>(SELECT_TASKS, [pool, unique(ids)])).map((r) => [r.id, r]));
  return unique(ids).flatMap((id) => {
    const row = byId.get(id);
    return row ? [taskFromRow(row)] : [];
  });
}

export async function listTasks(sql: Sql, pool: string, filter: TaskFilter, page: PageRequest): Promise<Page<PoolTask>> {
  const q = listTasksSql(pool, filter, page, (n) => `$${n}`);
  if (q === null) return { items: [], nextCursor: null };
  const p = taskPage(await sql.query<TaskRow>(q.sql, q.params), page.limit);
  return { items: p.items.map(taskFromRow), nextCursor: p.nextCursor };
}

/** One statement, on its own. The tasks whose answer was lost come first, then the new ones; each part oldest first. */
export async function claimTasks(sql: Sql, jobId: number, attemptId: number, max: number, now: number, held: readonly number[]): Promise<ClaimedTask[] | 'stop' | 'gone'> {
  const rows = await sql.query<{ id: number | null; attempts: number | null; payload: string | null; lost: boolean | null; live: boolean | null; stop: boolean | null }>(CLAIM, [
    jobId, attemptId, Math.max(0, max), now, TASK_DEADLINE_MARGIN_MS, held,
  ]);
  const check = rows.find((r) => r.id === null);
  if (!check || !check.live) return 'gone';
  if (check.stop) return 'stop';
  return rows
    .filter((r) => r.id !== null)
    .sort((a, b) => (a.lost === b.lost ? a.id! - b.id! : a.lost ? -1 : 1))
    .map((r) => ({ id: r.id!, attempt: r.attempts!, payload: JSON.parse(r.payload!) as unknown }));
}

/** In a write transaction: the held tasks locked, each outcome decided, everything written in one statement. */
export async function completeTasks(sql: Sql, jobId: number, attemptId: number, outcomes: TaskOutcome[], now: number, random: () => number): Promise<CompletedTask[]> {
  if (outcomes.length === 0) return [];
  const held = new Map((await sql.query<HeldRow>(LOCK_HELD, [unique(outcomes.map((o) => o.taskId)), attemptId, jobId])).map((r) => [r.id, r]));
  const results: { id: number; json: string }[] = [];
  const ends: TaskDeliveryEnd[] = [];
  const out = outcomes.map((o): CompletedTask => {
    const t = held.get(o.taskId);
    // A task answered twice in one call: the first answer takes it, as it would one call earlier.
    if (!t || t.attempts !== o.attempt) return { taskId: o.taskId, accepted: false };
    held.delete(o.taskId);
    let state: TaskState;
    if ('result' in o) {
      state = 'succeeded';
      results.push({ id: t.id, json: JSON.stringify(o.result) ?? 'null' });
    } else {
      const backoff = { initialSeconds: t.backoff_initial_s, maxSeconds: t.backoff_max_s, multiplier: t.backoff_multiplier };
      const end = afterTaskError({ id: t.id, attempts: t.attempts, attemptLimit: t.attempt_limit, replicaJobId: jobId }, backoff, o.error, o.retryable, now, random());
      state = end.state;
      ends.push(end);
    }
    return { taskId: o.taskId, accepted: true, pool: t.pool, state, createdAt: t.created_at, startedAt: t.started_at, cold: t.cold };
  });
  const done = results.length + ends.length;
  if (done > 0) {
    const pool = out.find((c) => c.accepted)!.pool!;
    const failed = ends.filter((e) => e.state === 'failed').length;
    await sql.execute(WRITE_COMPLETION, [results.map((r) => r.id), results.map((r) => r.json), now, ...deliveryEndColumns(ends), done, jobId, secondOf(now), pool, results.length, failed]);
  }
  return out;
}

/** In a write transaction: the leader's sweep; it also forgets throughput counts older than TASK_COUNTS_KEPT_MS. */
export async function redeliverTasks(sql: Sql, now: number): Promise<Redelivered[]> {
  await sql.execute(FORGET_COUNTS, [secondOf(now - TASK_COUNTS_KEPT_MS)]);
  const lost = await sql.query<LostRow>(LOCK_LOST, [now]);
  if (lost.length === 0) return [];
  const ends = lost.map((t) => afterLostDelivery({ id: t.id, attempts: t.attempts, attemptLimit: t.attempt_limit, replicaJobId: t.replica_job_id }, t.ended ? 'replica-ended' : 'task-timeout', t.task_timeout_ms, now));
  await sql.execute(WRITE_LOST, deliveryEndColumns(ends));
  const failedByPool = new Map<string, number>();
  lost.forEach((t, i) => {
    if (ends[i]!.state === 'failed') failedByPool.set(t.pool, (failedByPool.get(t.pool) ?? 0) + 1);
  });
  for (const [pool, failed] of [...failedByPool].sort(([a], [b]) => (a < b ? -1 : 1))) await sql.execute(ADD_COUNTS, [secondOf(now), pool, 0, failed]);
  return lost.map((t, i) => ({ taskId: t.id, pool: t.pool, replicaJobId: t.replica_job_id, reason: t.ended ? 'replica-ended' : 'task-timeout', state: ends[i]!.state }));
}

export async function replayTasks(sql: Sql, pool: string, selector: { ids: number[] } | { all: true }, now: number): Promise<PoolTask[]> {
  const ids = 'ids' in selector ? unique(selector.ids) : null;
  const rows = await sql.query<TaskRow>(REPLAY, [pool, now, ids]);
  const order = ids === null ? null : new Map(ids.map((id, i) => [id, i]));
  rows.sort((a, b) => (order ? order.get(a.id)! - order.get(b.id)! : a.id - b.id));
  return rows.map(taskFromRow);
}

export async function poolBacklogs(sql: Sql, now: number, since: number): Promise<PoolBacklog[]> {
  const rows = await sql.query<{ pool: string; runnable: number; queued: number; running: number; succeeded: number; failed: number }>(BACKLOGS, [now, since, finishedCountSplit(since).firstSecond]);
  return rows.map((r) => ({ pool: r.pool, runnable: r.runnable, queued: r.queued, running: r.running, succeededSince: r.succeeded, failedSince: r.failed }));
}

export async function lastColdStart(sql: Sql, pool: string): Promise<ColdStart | null> {
  const [r] = await sql.query<{ id: number; replica_job_id: number; created_at: number; finished_at: number; ready_at: number | null }>(SELECT_LAST_COLD, [pool]);
  return r ? { taskId: r.id, replicaJobId: r.replica_job_id, acceptedAt: r.created_at, replicaReadyAt: r.ready_at, resultAt: r.finished_at } : null;
}

export async function purgeFinishedTasks(sql: Sql, before: number, limit: number): Promise<number> {
  return sql.execute(PURGE_FINISHED, [before, limit]);
}
