import type { Database, Statement } from 'better-sqlite3';
import type { JobOwner } from '../../core/access.js';
import { PoolNotFoundError, PoolStoppedError } from '../../core/errors.js';
import type { PoolTask } from '../../core/pool-spec.js';
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

/**
 * Pool tasks (store/pool-store.ts, migration 0013) on SQLite: submit, claim, complete, redeliver, replay, counts.
 * Claims and completions are the hot path: a claim is one check, one count over the running index (tasks whose claim's
 * answer was lost are looked for only when it finds more than the host holds) and one UPDATE … WHERE id IN (SELECT … LIMIT)
 * over the runnable index; a completion one fenced UPDATE per task. Functions run inside the caller's transaction.
 */

/** Parameters: name. */
const SELECT_POOL_FOR_SUBMIT = `SELECT state, max_attempts FROM pools WHERE name = ?`;
/** A task is cold when no replica of its pool is ready (said ready, not asked to stop, its job not ended). Parameters: pool. */
const SELECT_COLD = `SELECT NOT EXISTS (SELECT 1 FROM pool_replicas r JOIN jobs j ON j.id = r.job_id
    WHERE r.pool = ? AND r.ready_at IS NOT NULL AND r.stop_requested = 0 AND j.state IN ('queued', 'assigned', 'running')) AS cold`;
/** Parameters: pool, idempotency_key. */
const SELECT_TASK_BY_KEY = `SELECT ${TASK_COLUMNS} FROM pool_tasks WHERE pool = ? AND idempotency_key = ?`;
/** Parameters: pool, idempotency_key, payload, attempt_limit, not_before, cold, created_at, owner, owner_token_id. */
const INSERT_TASK = `INSERT INTO pool_tasks (pool, state, idempotency_key, payload, attempt_limit, not_before, cold, created_at, owner, owner_token_id)
  VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)`;
/** Parameters: pool, JSON array of ids. */
const SELECT_TASKS = `SELECT ${TASK_COLUMNS} FROM pool_tasks WHERE pool = ? AND id IN (SELECT value FROM json_each(?))`;

/** The replica attempt asking, its replica and its pool. Parameters: attempt id, job id. */
const SELECT_CLAIMER = `SELECT a.state AS attempt_state, r.pool, r.stop_requested, p.state AS pool_state, p.task_timeout_ms
  FROM attempts a LEFT JOIN pool_replicas r ON r.job_id = a.job_id LEFT JOIN pools p ON p.name = r.pool
  WHERE a.id = ? AND a.job_id = ?`;
/** Parameters: replica_job_id, attempt_id, started_at, deadline, pool, now, limit. */
const CLAIM = `UPDATE pool_tasks SET state = 'running', attempts = attempts + 1, replica_job_id = ?, attempt_id = ?, started_at = ?, deadline = ?
  WHERE id IN (SELECT id FROM pool_tasks INDEXED BY pool_tasks_runnable WHERE pool = ? AND state = 'queued' AND not_before <= ? ORDER BY id LIMIT ?)
  RETURNING id, attempts, payload`;
/**
 * Tasks running under the replica attempt, counted on the running index alone (it holds attempt_id and the rowid): when
 * there are no more of them than the host says it holds, no claim's answer was lost and nothing is looked up.
 * Parameters: attempt id.
 */
const COUNT_RUNNING_UNDER = `SELECT count(*) AS n FROM pool_tasks INDEXED BY pool_tasks_running WHERE attempt_id = ? AND state = 'running'`;
/**
 * Tasks running under the replica attempt that its host does not hold (a claim whose answer was lost), oldest first,
 * handed back at the same attempt number with a fresh deadline. Parameters: deadline, attempt id, job id, held (JSON array), limit.
 */
const REHAND = `UPDATE pool_tasks SET deadline = ?
  WHERE id IN (SELECT id FROM pool_tasks INDEXED BY pool_tasks_running WHERE attempt_id = ? AND state = 'running' AND replica_job_id = ?
    AND id NOT IN (SELECT value FROM json_each(?)) ORDER BY id LIMIT ?)
  RETURNING id, attempts, payload`;
/** Parameters: last_active_at, job id. */
const TOUCH_REPLICA = `UPDATE pool_replicas SET last_active_at = ? WHERE job_id = ?`;

/** The pool a replica serves and its backoff. Parameters: job id. */
const SELECT_REPLICA_POOL = `SELECT p.name, p.backoff_initial_s, p.backoff_max_s, p.backoff_multiplier
  FROM pool_replicas r JOIN pools p ON p.name = r.pool WHERE r.job_id = ?`;
/**
 * A result, accepted only from the delivery that holds the task (fenced by the task's attempt number and the replica attempt).
 * Parameters: result (JSON), finished_at, id, attempts, attempt_id, replica_job_id.
 */
const COMPLETE_RESULT = `UPDATE pool_tasks SET state = 'succeeded', result = ?, finished_at = ?
  WHERE id = ? AND state = 'running' AND attempts = ? AND attempt_id = ? AND replica_job_id = ? RETURNING created_at, started_at, cold`;
/** The same fence, for an error (the decision needs the task's attempt budget). Parameters: id, attempts, attempt_id, replica_job_id. */
const SELECT_HELD = `SELECT attempts, attempt_limit FROM pool_tasks
  WHERE id = ? AND state = 'running' AND attempts = ? AND attempt_id = ? AND replica_job_id = ?`;
/**
 * A delivery that ended without a result (pool-row.ts TaskDeliveryEnd), appended to the history.
 * Parameters: state, not_before (null keeps it), in_dlq, error, finished_at, history entry (JSON), id, attempts.
 */
const END_DELIVERY = `UPDATE pool_tasks SET state = ?, not_before = coalesce(?, not_before), in_dlq = ?, error = ?, finished_at = ?,
    history = json_insert(history, '$[#]', json(?))
  WHERE id = ? AND state = 'running' AND attempts = ? RETURNING created_at, started_at, cold`;
/** Parameters: tasks done, last_active_at, job id. */
const COUNT_DONE = `UPDATE pool_replicas SET tasks_done = tasks_done + ?, last_active_at = ? WHERE job_id = ?`;
/** Parameters: second, pool, succeeded, failed. */
const ADD_COUNTS = `INSERT INTO pool_task_counts (second, pool, succeeded, failed) VALUES (?, ?, ?, ?)
  ON CONFLICT (second, pool) DO UPDATE SET succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed`;
/** Parameters: the first second kept. */
const FORGET_COUNTS = `DELETE FROM pool_task_counts WHERE second < ?`;

/**
 * Running tasks whose replica attempt is no longer live, or whose deadline passed. The running index holds only the
 * tasks in flight; each is joined to its attempt by primary key. Parameters: now.
 */
const SELECT_LOST = `SELECT t.id, t.pool, t.attempts, t.attempt_limit, t.replica_job_id, coalesce(p.task_timeout_ms, 0) AS task_timeout_ms,
    CASE WHEN a.state IN ('assigned', 'running') THEN 0 ELSE 1 END AS ended
  FROM pool_tasks t INDEXED BY pool_tasks_running LEFT JOIN attempts a ON a.id = t.attempt_id LEFT JOIN pools p ON p.name = t.pool
  WHERE t.state = 'running' AND (a.state IS NULL OR a.state NOT IN ('assigned', 'running') OR t.deadline < ?) ORDER BY t.id`;

/** A fresh budget of the pool's maxAttempts. Parameters: max_attempts, not_before, id, pool. */
const REPLAY_TASK = `UPDATE pool_tasks SET state = 'queued', in_dlq = 0, attempt_limit = attempt_limit + ?, not_before = ?, error = NULL, result = NULL, finished_at = NULL
  WHERE id = ? AND pool = ? AND in_dlq = 1 RETURNING ${TASK_COLUMNS}`;
/** Parameters: max_attempts, not_before, pool, pool. */
const REPLAY_ALL = `UPDATE pool_tasks SET state = 'queued', in_dlq = 0, attempt_limit = attempt_limit + ?, not_before = ?, error = NULL, result = NULL, finished_at = NULL
  WHERE pool = ? AND id IN (SELECT id FROM pool_tasks INDEXED BY pool_tasks_dlq WHERE pool = ? AND in_dlq = 1) RETURNING ${TASK_COLUMNS}`;

const SELECT_POOL_NAMES = `SELECT name FROM pools ORDER BY name`;
/** Parameters: now. */
const COUNT_QUEUED = `SELECT pool, count(*) AS queued, sum(not_before <= ?) AS runnable FROM pool_tasks INDEXED BY pool_tasks_runnable
  WHERE state = 'queued' GROUP BY pool`;
const COUNT_RUNNING = `SELECT pool, count(*) AS running FROM pool_tasks INDEXED BY pool_tasks_running WHERE state = 'running' GROUP BY pool`;
/** Whole seconds (pool-row.ts finishedCountSplit). Parameters: first second. */
const SUM_COUNTS = `SELECT pool, sum(succeeded) AS succeeded, sum(failed) AS failed FROM pool_task_counts WHERE second >= ? GROUP BY pool`;
/** The part of a second before them. Parameters: since, end. */
const COUNT_FINISHED_BETWEEN = `SELECT pool, sum(state = 'succeeded') AS succeeded, sum(state = 'failed') AS failed FROM pool_tasks INDEXED BY pool_tasks_finished
  WHERE finished_at >= ? AND finished_at < ? GROUP BY pool`;
/** Parameters: pool. */
const SELECT_LAST_COLD = `SELECT t.id, t.replica_job_id, t.created_at, t.finished_at, r.ready_at FROM pool_tasks t INDEXED BY pool_tasks_cold
  LEFT JOIN pool_replicas r ON r.job_id = t.replica_job_id WHERE t.pool = ? AND t.cold = 1 AND t.state = 'succeeded' ORDER BY t.id DESC LIMIT 1`;
/** Parameters: before, limit. */
const PURGE_FINISHED = `DELETE FROM pool_tasks WHERE id IN (SELECT id FROM pool_tasks INDEXED BY pool_tasks_finished
  WHERE finished_at < ? AND in_dlq = 0 ORDER BY finished_at LIMIT ?)`;

const MAX_LIST_SHAPES = 64;

interface ClaimerRow {
  attempt_state: string;
  pool: string | null;
  stop_requested: number | null;
  pool_state: string | null;
  task_timeout_ms: number | null;
}
interface LostRow {
  id: number;
  pool: string;
  attempts: number;
  attempt_limit: number;
  replica_job_id: number | null;
  task_timeout_ms: number;
  ended: number;
}
type EndedRow = { created_at: number; started_at: number; cold: number };

export type PoolTaskQueries = ReturnType<typeof preparePoolTaskQueries>;

export function preparePoolTaskQueries(db: Database) {
  const selectPoolForSubmit = db.prepare<[string], { state: string; max_attempts: number }>(SELECT_POOL_FOR_SUBMIT);
  const selectCold = db.prepare<[string], { cold: number }>(SELECT_COLD);
  const selectTaskByKey = db.prepare<[string, string], TaskRow>(SELECT_TASK_BY_KEY);
  const insertTask = db.prepare<[string, string | null, string, number, number, number, number, string | null, string | null]>(INSERT_TASK);
  const selectTasks = db.prepare<[string, string], TaskRow>(SELECT_TASKS);
  const selectClaimer = db.prepare<[number, number], ClaimerRow>(SELECT_CLAIMER);
  const claim = db.prepare<[number, number, number, number, string, number, number], { id: number; attempts: number; payload: string }>(CLAIM);
  const countRunningUnder = db.prepare<[number], { n: number }>(COUNT_RUNNING_UNDER);
  const rehand = db.prepare<[number, number, number, string, number], { id: number; attempts: number; payload: string }>(REHAND);
  const touchReplica = db.prepare<[number, number]>(TOUCH_REPLICA);
  const selectReplicaPool = db.prepare<[number], { name: string; backoff_initial_s: number; backoff_max_s: number; backoff_multiplier: number }>(SELECT_REPLICA_POOL);
  const completeResult = db.prepare<[string, number, number, number, number, number], EndedRow>(COMPLETE_RESULT);
  const selectHeld = db.prepare<[number, number, number, number], { attempts: number; attempt_limit: number }>(SELECT_HELD);
  const endDelivery = db.prepare<[string, number | null, number, string | null, number | null, string, number, number], EndedRow>(END_DELIVERY);
  const countDone = db.prepare<[number, number, number]>(COUNT_DONE);
  const addCounts = db.prepare<[number, string, number, number]>(ADD_COUNTS);
  const forgetCounts = db.prepare<[number]>(FORGET_COUNTS);
  const selectLost = db.prepare<[number], LostRow>(SELECT_LOST);
  const replayTask = db.prepare<[number, number, number, string], TaskRow>(REPLAY_TASK);
  const replayAll = db.prepare<[number, number, string, string], TaskRow>(REPLAY_ALL);
  const selectPoolNames = db.prepare<[], { name: string }>(SELECT_POOL_NAMES);
  const countQueued = db.prepare<[number], { pool: string; queued: number; runnable: number }>(COUNT_QUEUED);
  const countRunning = db.prepare<[], { pool: string; running: number }>(COUNT_RUNNING);
  const sumCounts = db.prepare<[number], { pool: string; succeeded: number; failed: number }>(SUM_COUNTS);
  const countFinishedBetween = db.prepare<[number, number], { pool: string; succeeded: number; failed: number }>(COUNT_FINISHED_BETWEEN);
  const selectLastCold = db.prepare<[string], { id: number; replica_job_id: number; created_at: number; finished_at: number; ready_at: number | null }>(SELECT_LAST_COLD);
  const purgeFinished = db.prepare<[number, number]>(PURGE_FINISHED);
  const listShapes = new Map<string, Statement<unknown[], TaskRow>>();

  function submitTasks(pool: string, tasks: { payloadJson: string; idempotencyKey?: string }[], now: number, owner: JobOwner | null = null): { task: PoolTask; created: boolean }[] {
    const p = selectPoolForSubmit.get(pool);
    if (!p) throw new PoolNotFoundError(pool);
    if (p.state !== 'active') throw new PoolStoppedError(pool);
    const cold = selectCold.get(pool)!.cold === 1;
    return tasks.map((t) => {
      const key = t.idempotencyKey ?? null;
      if (key !== null) {
        // An earlier task of this call with the same key is found here too: it was inserted just before.
        const existing = selectTaskByKey.get(pool, key);
        if (existing) return { task: taskFromRow(existing), created: false };
      }
      const id = Number(insertTask.run(pool, key, t.payloadJson, p.max_attempts, now, cold ? 1 : 0, now, owner?.name ?? null, owner?.tokenId ?? null).lastInsertRowid);
      return { task: newTask(id, pool, t.payloadJson, key, p.max_attempts, cold, now), created: true };
    });
  }

  function getTasks(pool: string, ids: number[]): PoolTask[] {
    if (ids.length === 0) return [];
    const byId = new Map(selectTasks.all(pool, JSON.stringify(ids)).map((r) => [r.id, r]));
    return [...new Set(ids)].flatMap((id) => {
      const row = byId.get(id);
      return row ? [taskFromRow(row)] : [];
    });
  }

  function listTasks(pool: string, filter: TaskFilter, page: PageRequest): Page<PoolTask> {
    const q = listTasksSql(pool, filter, page, () => '?');
    if (q === null) return { items: [], nextCursor: null };
    let stmt = listShapes.get(q.sql);
    if (!stmt) {
      if (listShapes.size >= MAX_LIST_SHAPES) listShapes.clear();
      stmt = db.prepare<unknown[], TaskRow>(q.sql);
      listShapes.set(q.sql, stmt);
    }
    const page1 = taskPage(stmt.all(...q.params), page.limit);
    return { items: page1.items.map(taskFromRow), nextCursor: page1.nextCursor };
  }

  function claimTasks(jobId: number, attemptId: number, max: number, now: number, held: readonly number[]): ClaimedTask[] | 'stop' | 'gone' {
    const c = selectClaimer.get(attemptId, jobId);
    if (!c || (c.attempt_state !== 'assigned' && c.attempt_state !== 'running')) return 'gone';
    // A replica asked to stop, of a stopped pool, or of a pool deleted meanwhile: finish what is in flight and exit.
    if (c.pool === null || c.pool_state !== 'active' || c.stop_requested === 1) return 'stop';
    if (max <= 0) return [];
    const deadline = now + c.task_timeout_ms! + TASK_DEADLINE_MARGIN_MS;
    // RETURNING gives no order; a replica works oldest first, the tasks it lost before the new ones.
    const lost = countRunningUnder.get(attemptId)!.n > held.length ? rehand.all(deadline, attemptId, jobId, JSON.stringify(held), max).sort((a, b) => a.id - b.id) : [];
    const fresh = lost.length < max ? claim.all(jobId, attemptId, now, deadline, c.pool, now, max - lost.length).sort((a, b) => a.id - b.id) : [];
    if (lost.length + fresh.length === 0) return [];
    touchReplica.run(now, jobId);
    const rows = lost.length === 0 ? fresh : lost.concat(fresh);
    return rows.map((r) => ({ id: r.id, attempt: r.attempts, payload: JSON.parse(r.payload) as unknown }));
  }

  function completeTasks(jobId: number, attemptId: number, outcomes: TaskOutcome[], now: number, random: () => number): CompletedTask[] {
    const pool = outcomes.length > 0 ? selectReplicaPool.get(jobId) : undefined;
    if (!pool) return outcomes.map((o) => ({ taskId: o.taskId, accepted: false }));
    const backoff = { initialSeconds: pool.backoff_initial_s, maxSeconds: pool.backoff_max_s, multiplier: pool.backoff_multiplier };
    let done = 0;
    const ended = { succeeded: 0, failed: 0 };
    const out = outcomes.map((o): CompletedTask => {
      let state: PoolTask['state'];
      let row: EndedRow | undefined;
      if ('result' in o) {
        state = 'succeeded';
        row = completeResult.get(JSON.stringify(o.result) ?? 'null', now, o.taskId, o.attempt, attemptId, jobId);
      } else {
        const held = selectHeld.get(o.taskId, o.attempt, attemptId, jobId);
        if (!held) return { taskId: o.taskId, accepted: false };
        const end = afterTaskError({ id: o.taskId, attempts: held.attempts, attemptLimit: held.attempt_limit, replicaJobId: jobId }, backoff, o.error, o.retryable, now, random());
        state = end.state;
        row = writeEnd(end, held.attempts);
      }
      if (!row) return { taskId: o.taskId, accepted: false };
      done++;
      if (state === 'succeeded') ended.succeeded++;
      else if (state === 'failed') ended.failed++;
      return { taskId: o.taskId, accepted: true, pool: pool.name, state, createdAt: row.created_at, startedAt: row.started_at, cold: row.cold === 1 };
    });
    if (done > 0) countDone.run(done, now, jobId);
    if (ended.succeeded + ended.failed > 0) addCounts.run(secondOf(now), pool.name, ended.succeeded, ended.failed);
    return out;
  }

  function writeEnd(end: TaskDeliveryEnd, attempts: number): EndedRow | undefined {
    return endDelivery.get(end.state, end.notBefore, end.inDlq ? 1 : 0, end.error, end.finishedAt, JSON.stringify(end.entry), end.id, attempts);
  }

  /** The leader's sweep; it also forgets throughput counts older than TASK_COUNTS_KEPT_MS. */
  function redeliverTasks(now: number): Redelivered[] {
    forgetCounts.run(secondOf(now - TASK_COUNTS_KEPT_MS));
    const failedByPool = new Map<string, number>();
    const out = selectLost.all(now).flatMap((t): Redelivered[] => {
      const reason = t.ended === 1 ? 'replica-ended' : 'task-timeout';
      const end = afterLostDelivery({ id: t.id, attempts: t.attempts, attemptLimit: t.attempt_limit, replicaJobId: t.replica_job_id }, reason, t.task_timeout_ms, now);
      if (!writeEnd(end, t.attempts)) return [];
      if (end.state === 'failed') failedByPool.set(t.pool, (failedByPool.get(t.pool) ?? 0) + 1);
      return [{ taskId: t.id, pool: t.pool, replicaJobId: t.replica_job_id, reason, state: end.state }];
    });
    for (const [pool, failed] of failedByPool) addCounts.run(secondOf(now), pool, 0, failed);
    return out;
  }

  function replayTasks(pool: string, selector: { ids: number[] } | { all: true }, now: number): PoolTask[] {
    const p = selectPoolForSubmit.get(pool);
    if (!p) return [];
    const rows = 'ids' in selector ? [...new Set(selector.ids)].flatMap((id) => replayTask.all(p.max_attempts, now, id, pool)) : replayAll.all(p.max_attempts, now, pool, pool).sort((a, b) => a.id - b.id);
    return rows.map(taskFromRow);
  }

  function poolBacklogs(now: number, since: number): PoolBacklog[] {
    const queued = new Map(countQueued.all(now).map((r) => [r.pool, r]));
    const running = new Map(countRunning.all().map((r) => [r.pool, r.running]));
    const { firstSecond, partialEnd } = finishedCountSplit(since);
    const finished = new Map<string, { succeeded: number; failed: number }>();
    for (const r of [...sumCounts.all(firstSecond), ...(partialEnd > since ? countFinishedBetween.all(since, partialEnd) : [])]) {
      const f = finished.get(r.pool) ?? { succeeded: 0, failed: 0 };
      finished.set(r.pool, { succeeded: f.succeeded + r.succeeded, failed: f.failed + r.failed });
    }
    return selectPoolNames.all().map(({ name }) => ({
      pool: name,
      runnable: queued.get(name)?.runnable ?? 0,
      queued: queued.get(name)?.queued ?? 0,
      running: running.get(name) ?? 0,
      succeededSince: finished.get(name)?.succeeded ?? 0,
      failedSince: finished.get(name)?.failed ?? 0,
    }));
  }

  function lastColdStart(pool: string): ColdStart | null {
    const r = selectLastCold.get(pool);
    return r ? { taskId: r.id, replicaJobId: r.replica_job_id, acceptedAt: r.created_at, replicaReadyAt: r.ready_at, resultAt: r.finished_at } : null;
  }

  function purgeFinishedTasks(before: number, limit: number): number {
    return purgeFinished.run(before, limit).changes;
  }

  return { submitTasks, getTasks, listTasks, claimTasks, completeTasks, redeliverTasks, replayTasks, poolBacklogs, lastColdStart, purgeFinishedTasks };
}
