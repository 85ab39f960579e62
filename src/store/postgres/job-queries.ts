import type { JobOwner } from '../../core/access.js';
import { missingDependencyIssues } from '../../core/dependencies.js';
import { ValidationError } from '../../core/errors.js';
import type { JobSpec } from '../../core/job-spec.js';
import type { Attempt, Job, JobEvent, JobState } from '../../core/types.js';
import type { CancelOutcome, DlqSelector, JobFilter, JobSelector, JobStats, Page, PageRequest, SubmitOutcome } from '../store.js';
import { listJobsSql } from './list-jobs-sql.js';
import type { Sql } from './postgres-pool.js';
import { ATTEMPT_COLUMNS, attemptFromRow, eventFromRow, JOB_COLUMNS, jobColumns, jobFromRow, type AttemptRow, type EventRow, type JobRow } from './rows.js';
import { LIVE_ATTEMPT, unique } from './shared-sql.js';
import { checkPageLimit } from '../page.js';
import { decodeJobCursor, encodeJobCursor } from '../job-listing.js';
import { DEFAULT_JOB_SORT, type JobSort } from '../../core/job-sort.js';
import { newJob } from '../new-job.js';
import * as deps from './dependency-queries.js';

/**
 * Jobs as users see them: submit, read, list, cancel, DLQ, retention, stats.
 * Each function runs on the connection of the transaction the caller opened
 * (postgres-store.ts), or, where it is one statement, on its own.
 */

/** Parameters: keys text[]. */
const SELECT_JOBS_BY_KEY = `SELECT ${JOB_COLUMNS} FROM jobs WHERE idempotency_key = ANY($1::text[])`;
/** Ids for a batch, taken before the insert so each row's id is known whatever ON CONFLICT skips. Parameters: count. */
const NEXT_JOB_IDS = `SELECT nextval(pg_get_serial_sequence('jobs', 'id')) AS id FROM generate_series(1, $1::int)`;
/**
 * Inserts a batch of jobs and their `queued` events. A row whose idempotency key another
 * transaction (another replica) inserted meanwhile is skipped, and is not returned. Rows go in in key
 * order (their ids are already set), so two replicas inserting overlapping keys wait on each other in
 * one order instead of deadlocking.
 * Parameters: id bigint[], name, queue, type text[], priority, gpus int[], cpus float8[], memory_mb bigint[],
 * node_selector, labels (JSON text[]), spec (JSON text[]), backoff_initial_s, backoff_max_s, backoff_multiplier float8[],
 * idempotency_key text[], attempt_limit int[], now, owner, owner_token_id (one owner for the whole batch), deps_unmet int[].
 */
const INSERT_JOBS = `WITH inserted AS (
    INSERT INTO jobs (id, name, queue, type, state, priority, gpus, cpus, memory_mb, node_selector, labels, spec,
      backoff_initial_s, backoff_max_s, backoff_multiplier, idempotency_key, attempt_limit, not_before, created_at, updated_at, owner, owner_token_id, deps_unmet)
    SELECT id, name, queue, type, 'queued', priority, gpus, cpus, memory_mb, node_selector::jsonb, labels::jsonb, spec::json,
      backoff_initial_s, backoff_max_s, backoff_multiplier, idempotency_key, attempt_limit, $17, $17, $17, $18::text, $19::text, deps_unmet
    FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::float8[], $8::bigint[], $9::text[], $10::text[],
      $11::text[], $12::float8[], $13::float8[], $14::float8[], $15::text[], $16::int[], $20::int[])
      AS j(id, name, queue, type, priority, gpus, cpus, memory_mb, node_selector, labels, spec, backoff_initial_s, backoff_max_s,
        backoff_multiplier, idempotency_key, attempt_limit, deps_unmet)
    ORDER BY idempotency_key
    ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
  )
  INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
  SELECT id, NULL, NULL, 'queued', $17, NULL FROM inserted ORDER BY id
  RETURNING job_id`;

/** Parameters: id. */
const SELECT_JOB = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`;
/** Parameters: ids bigint[]. */
const SELECT_JOBS = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ANY($1::bigint[])`;
/** Parameters: job_id. */
const SELECT_ATTEMPTS_OF_JOB = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE job_id = $1 ORDER BY number`;
/** Parameters: id. */
const SELECT_ATTEMPT = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE id = $1`;
/** Parameters: job_id. */
const SELECT_EVENTS_OF_JOB = `SELECT job_id, attempt, from_state, to_state, at, reason FROM job_events WHERE job_id = $1 ORDER BY id`;

/**
 * Cancels the selected jobs that are not terminal, locking them in id order first, and records an
 * event for each. A live job keeps node_id/devices: its attempt still runs there until the agent
 * reports it gone. `where` selects by ids ($1 bigint[]) or by queue ($1 text).
 * Parameters: selector, now, reason.
 */
const cancelJobsSql = (where: string) => `WITH target AS (
    SELECT id, state FROM jobs WHERE ${where} AND state IN ('queued', 'assigned', 'running') ORDER BY id FOR NO KEY UPDATE
  ), cancelled AS (
    UPDATE jobs j SET state = 'cancelled', finished_at = $2, updated_at = $2, reason = $3
    FROM target t WHERE j.id = t.id
    RETURNING t.state AS from_state, ${jobColumns('j')}
  ), events AS (
    INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
    SELECT id, CASE WHEN from_state = 'queued' THEN NULL ELSE attempts END, from_state, 'cancelled', $2, $3 FROM cancelled ORDER BY id
  )
  SELECT * FROM cancelled`;
/** Flags the live attempts of cancelled jobs so their agents kill them. Parameters: job ids bigint[]. */
const FLAG_ATTEMPTS_FOR_KILL = `UPDATE attempts SET cancel_requested = true WHERE job_id = ANY($1::bigint[]) AND ${LIVE_ATTEMPT} RETURNING id, job_id, node_id`;

/**
 * DLQ replay: a fresh attempt budget of spec.maxAttempts on top of the attempts already made.
 * `where` (dlqWhere) selects by ids or by queue in $1, or all (`$1::text IS NULL`, with null bound, so the
 * statement's parameters are the same in every shape).
 * Parameters: selector, now.
 */
const replayJobsSql = (where: string) => `WITH target AS (
    SELECT id, state FROM jobs WHERE ${where} AND in_dlq ORDER BY id FOR NO KEY UPDATE
  ), replayed AS (
    UPDATE jobs j SET state = 'queued', in_dlq = false, attempt_limit = j.attempts + (j.spec ->> 'maxAttempts')::int, deps_unmet = 0,
      not_before = $2, updated_at = $2, finished_at = NULL, node_id = NULL, devices = '[]', reason = 'replayed from DLQ'
    FROM target t WHERE j.id = t.id
    RETURNING t.state AS from_state, ${jobColumns('j')}
  ), events AS (
    INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
    SELECT id, NULL, from_state, 'queued', $2, 'replayed from DLQ' FROM replayed ORDER BY id
  )
  SELECT * FROM replayed ORDER BY id`;
/** Parameters: selector, now. */
const undlqSql = (where: string) => `UPDATE jobs SET in_dlq = false, updated_at = $2 WHERE ${where} AND in_dlq`;

/**
 * Deletes up to `limit` terminal jobs out of the DLQ that finished before a time, oldest first, with
 * their attempts and events. A cancelled job whose attempt is still live (the agent has not yet killed
 * it) is kept: it still holds devices. Rows another replica is purging are skipped.
 * Parameters: before, limit.
 */
const PURGE_FINISHED = `WITH doomed AS (
    SELECT id FROM jobs j WHERE finished_at < $1 AND NOT in_dlq AND state IN ('succeeded', 'failed', 'cancelled')
      AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = j.id AND a.${LIVE_ATTEMPT})
    ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
  ), events AS (
    DELETE FROM job_events WHERE job_id IN (SELECT id FROM doomed)
  ), dependencies_gone AS (
    DELETE FROM job_dependencies WHERE job_id IN (SELECT id FROM doomed)
  ), outputs_gone AS (
    DELETE FROM attempt_outputs WHERE job_id IN (SELECT id FROM doomed)
  ), attempts_gone AS (
    DELETE FROM attempts WHERE job_id IN (SELECT id FROM doomed)
  )
  DELETE FROM jobs WHERE id IN (SELECT id FROM doomed)`;

const STATS_BY_QUEUE_STATE = `SELECT queue, state, count(*) AS count FROM jobs GROUP BY queue, state ORDER BY queue, state`;
const STATS_DLQ = `SELECT queue, count(*) AS count FROM jobs WHERE in_dlq GROUP BY queue ORDER BY queue`;

type JobRowWithFrom = JobRow & { from_state: string };

const NO_DEPENDENCIES = { dependsOn: [] as number[] };

/** Inserts the jobs whose key is new; a spec whose key exists (stored, or earlier in the batch) returns that job. */
export async function submitJobs(sql: Sql, specs: JobSpec[], now: number, owner: JobOwner | null = null): Promise<SubmitOutcome[]> {
  if (specs.length === 0) return [];
  const byKey = new Map<string, Job>();
  const remember = (rows: JobRow[]) => {
    for (const row of rows) {
      const job = jobFromRow(row);
      if (job.spec.idempotencyKey !== undefined) byKey.set(job.spec.idempotencyKey, job);
    }
  };
  const keys = unique(specs.flatMap((s) => (s.idempotencyKey === undefined ? [] : [s.idempotencyKey])));
  if (keys.length > 0) remember(await sql.query<JobRow>(SELECT_JOBS_BY_KEY, [keys]));
  // The positions of the specs to insert: every spec without a key, and the first of each unknown key.
  const fresh: number[] = [];
  const batchKeys = new Set<string>();
  specs.forEach((s, i) => {
    const key = s.idempotencyKey;
    if (key !== undefined && (byKey.has(key) || batchKeys.has(key))) return;
    if (key !== undefined) batchKeys.add(key);
    fresh.push(i);
  });
  const created: (Job | undefined)[] = [];
  if (fresh.length > 0) {
    // Dependencies: locked (FOR SHARE, so none of them ends unseen meanwhile) and checked before anything is written.
    const withDeps = fresh.some((i) => specs[i]!.dependsOn.length > 0);
    const known = withDeps ? await deps.lockDependencies(sql, fresh.flatMap((i) => specs[i]!.dependsOn)) : new Map();
    if (withDeps) {
      const inserting = new Set(fresh);
      const issues = missingDependencyIssues(specs.map((s, i) => (inserting.has(i) ? s : NO_DEPENDENCIES)), (id) => known.has(id));
      if (issues.length > 0) throw new ValidationError(issues);
    }
    const outcomes = withDeps ? deps.outcomesOf(fresh.map((i) => specs[i]!.dependsOn), known) : null;
    const ids = (await sql.query<{ id: number }>(NEXT_JOB_IDS, [fresh.length])).map((r) => r.id).sort((a, b) => a - b);
    const col = <T>(f: (s: JobSpec) => T): T[] => fresh.map((i) => f(specs[i]!));
    const params = [
      ids, col((s) => s.name), col((s) => s.queue), col((s) => s.type), col((s) => s.priority), col((s) => s.gpus), col((s) => s.cpus),
      col((s) => s.memoryMb), col((s) => JSON.stringify(s.nodeSelector)), col((s) => JSON.stringify(s.labels)), col((s) => JSON.stringify(s)),
      col((s) => s.backoff.initialSeconds), col((s) => s.backoff.maxSeconds), col((s) => s.backoff.multiplier), col((s) => s.idempotencyKey ?? null),
      col((s) => s.maxAttempts), now, owner?.name ?? null, owner?.tokenId ?? null,
      fresh.map((_, k) => (outcomes?.[k]?.kind === 'waiting' ? outcomes[k].waitingOn.length : 0)),
    ];
    const inserted = new Set((await sql.query<{ job_id: number }>(INSERT_JOBS, params)).map((r) => r.job_id));
    if (outcomes !== null) {
      const withEdges = fresh.flatMap((specIndex, k) => (inserted.has(ids[k]!) && specs[specIndex]!.dependsOn.length > 0 ? [{ id: ids[k]!, dependsOn: specs[specIndex]!.dependsOn, outcome: outcomes[k]! }] : []));
      await deps.recordNew(sql, withEdges, known, now);
    }
    fresh.forEach((specIndex, i) => {
      const outcome = outcomes?.[i];
      if (inserted.has(ids[i]!)) created[specIndex] = newJob(ids[i]!, specs[specIndex]!, now, owner, outcome?.kind === 'failed' ? outcome.reason : null);
    });
    // A key another replica inserted since the first look: its job is the one to return.
    const raced = fresh.filter((i) => created[i] === undefined).map((i) => specs[i]!.idempotencyKey!);
    if (raced.length > 0) remember(await sql.query<JobRow>(SELECT_JOBS_BY_KEY, [raced]));
  }
  for (const job of created) if (job?.spec.idempotencyKey !== undefined) byKey.set(job.spec.idempotencyKey, job);
  return specs.map((s, i): SubmitOutcome => {
    const job = created[i];
    if (job) return { job, created: true };
    const existing = byKey.get(s.idempotencyKey ?? '');
    if (!existing) throw new Error(`job with idempotency key "${s.idempotencyKey}" was neither inserted nor found`);
    return { job: existing, created: false };
  });
}

export async function getJob(sql: Sql, id: number): Promise<Job | null> {
  const [row] = await sql.query<JobRow>(SELECT_JOB, [id]);
  return row ? jobFromRow(row) : null;
}

export async function listJobs(sql: Sql, filter: JobFilter, page: PageRequest, sort: JobSort = DEFAULT_JOB_SORT): Promise<Page<Job>> {
  checkPageLimit(page);
  const after = page.cursor === undefined ? null : decodeJobCursor(sort, page.cursor);
  if (filter.states !== undefined && filter.states.length === 0) return { items: [], nextCursor: null };
  const { sql: text, params } = listJobsSql(filter, after, page.limit + 1, sort);
  const rows = await sql.query<JobRow>(text, params);
  const more = rows.length > page.limit;
  const items = (more ? rows.slice(0, page.limit) : rows).map(jobFromRow);
  const last = items[items.length - 1];
  return { items, nextCursor: more && last ? encodeJobCursor(sort, last) : null };
}

export async function listAttempts(sql: Sql, jobId: number): Promise<Attempt[]> {
  return (await sql.query<AttemptRow>(SELECT_ATTEMPTS_OF_JOB, [jobId])).map(attemptFromRow);
}

export async function getAttempt(sql: Sql, attemptId: number): Promise<Attempt | null> {
  const [row] = await sql.query<AttemptRow>(SELECT_ATTEMPT, [attemptId]);
  return row ? attemptFromRow(row) : null;
}

export async function listEvents(sql: Sql, jobId: number): Promise<JobEvent[]> {
  return (await sql.query<EventRow>(SELECT_EVENTS_OF_JOB, [jobId])).map(eventFromRow);
}

/** In a write transaction: the cancel, then the flags on the live attempts (jobs are locked before attempts). */
export async function cancelJobs(sql: Sql, selector: JobSelector, reason: string, now: number): Promise<CancelOutcome> {
  const byIds = 'ids' in selector;
  const rows = await sql.query<JobRowWithFrom>(cancelJobsSql(byIds ? 'id = ANY($1::bigint[])' : 'queue = $1'), [byIds ? unique(selector.ids) : selector.queue, now, reason]);
  // As the SQLite store: in the order the ids were given, or by id for a queue.
  const order = byIds ? new Map(unique(selector.ids).map((id, i) => [id, i])) : null;
  rows.sort((a, b) => (order ? order.get(a.id)! - order.get(b.id)! : a.id - b.id));
  const live = rows.filter((r) => r.from_state !== 'queued').map((r) => r.id);
  const flagged = live.length === 0 ? [] : await sql.query<{ id: number; job_id: number; node_id: string }>(FLAG_ATTEMPTS_FOR_KILL, [live]);
  const attemptsToKill = live.flatMap((jobId) =>
    flagged
      .filter((a) => a.job_id === jobId)
      .sort((a, b) => a.id - b.id)
      .map((a) => ({ attemptId: a.id, jobId, nodeId: a.node_id })),
  );
  const dependentsFailed = (await deps.failDependents(sql, rows.map((r) => ({ id: r.id, state: 'cancelled' as const, reason })), now)).map(({ id, queue }) => ({ id, queue }));
  return { cancelled: rows.map((r) => jobFromRow(r)), attemptsToKill, dependentsFailed };
}

/** The WHERE condition and the bound value of a DLQ selector ($1). */
function dlqWhere(selector: DlqSelector): [string, unknown] {
  if ('ids' in selector) return ['id = ANY($1::bigint[])', unique(selector.ids)];
  return selector.queue === undefined ? ['$1::text IS NULL', null] : ['queue = $1', selector.queue];
}

/** In a write transaction: the replay, then each replayed job's dependencies evaluated again (it may fail again at once). */
export async function replayJobs(sql: Sql, selector: DlqSelector, now: number): Promise<Job[]> {
  const [where, value] = dlqWhere(selector);
  let rows = await sql.query<JobRowWithFrom>(replayJobsSql(where), [value, now]);
  const failedAgain = await deps.reevaluate(sql, rows.map((r) => r.id), now);
  if (failedAgain.size > 0) {
    const reread = new Map((await sql.query<JobRow>(SELECT_JOBS, [[...failedAgain]])).map((r) => [r.id, r]));
    rows = rows.map((r) => ({ ...r, ...reread.get(r.id) }));
  }
  if ('ids' in selector) {
    const order = new Map(unique(selector.ids).map((id, i) => [id, i]));
    rows.sort((a, b) => order.get(a.id)! - order.get(b.id)!);
  }
  return rows.map((r) => jobFromRow(r));
}

export async function purgeDlq(sql: Sql, selector: DlqSelector, now: number): Promise<number> {
  const [where, value] = dlqWhere(selector);
  return sql.execute(undlqSql(where), [value, now]);
}

export async function purgeFinishedJobs(sql: Sql, before: number, limit: number): Promise<number> {
  return sql.execute(PURGE_FINISHED, [before, limit]);
}

export async function jobStats(sql: Sql): Promise<JobStats> {
  const byQueueState = await sql.query<{ queue: string; state: string; count: number }>(STATS_BY_QUEUE_STATE);
  const dlqByQueue = await sql.query<{ queue: string; count: number }>(STATS_DLQ);
  return {
    byQueueState: byQueueState.map((r) => ({ queue: r.queue, state: r.state as JobState, count: r.count })),
    dlqByQueue: dlqByQueue.map((r) => ({ queue: r.queue, count: r.count })),
  };
}
