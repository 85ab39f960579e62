import type { Database, Statement } from 'better-sqlite3';
import type { JobSpec } from '../../core/job-spec.js';
import type { JobOwner } from '../../core/access.js';
import { missingDependencyIssues } from '../../core/dependencies.js';
import { ValidationError } from '../../core/errors.js';
import { isTerminal } from '../../core/job-states.js';
import type { Attempt, Job, JobEvent, JobState } from '../../core/types.js';
import type { CancelOutcome, DlqSelector, JobFilter, JobSelector, JobStats, Page, PageRequest, SubmitOutcome } from '../store.js';
import { ATTEMPT_COLUMNS, attemptFromRow, eventFromRow, JOB_COLUMNS, jobFromRow, type AttemptRow, type EventRow, type JobRow } from './rows.js';
import { listJobsSql } from './list-jobs-sql.js';
import { INSERT_EVENT, LIVE_ATTEMPT, type InsertEventParams } from './shared-sql.js';
import { checkPageLimit } from '../page.js';
import { decodeJobCursor, encodeJobCursor } from '../job-listing.js';
import { DEFAULT_JOB_SORT, type JobSort } from '../../core/job-sort.js';
import { newJob } from '../new-job.js';
import type { DependencyQueries } from './dependency-queries.js';

/**
 * Jobs as users see them: submit, read, list, cancel, DLQ, retention, stats.
 * Functions here run inside the transaction the caller opened (sqlite-store.ts).
 */

/**
 * Parameters: name, queue, type, priority, gpus, cpus, memory_mb, node_selector (JSON), labels (JSON), spec (JSON),
 * backoff_initial_s, backoff_max_s, backoff_multiplier, idempotency_key, attempt_limit, not_before, created_at, updated_at,
 * owner, owner_token_id.
 */
const INSERT_JOB = `INSERT INTO jobs (name, queue, type, state, priority, gpus, cpus, memory_mb, node_selector, labels, spec,
    backoff_initial_s, backoff_max_s, backoff_multiplier, idempotency_key, attempt_limit, not_before, created_at, updated_at, owner, owner_token_id)
  VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
type InsertJobParams = [string, string, string, number, number, number, number, string, string, string, number, number, number, string | null, number, number, number, number, string | null, string | null];

/** Parameters: idempotency_key. */
const SELECT_JOB_BY_KEY = `SELECT ${JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?`;
/** Parameters: id. */
const SELECT_JOB = `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`;
/** Parameters: job_id. */
const SELECT_ATTEMPTS_OF_JOB = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE job_id = ? ORDER BY number`;
/** Parameters: id. */
const SELECT_ATTEMPT = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE id = ?`;
/** Parameters: job_id. */
const SELECT_EVENTS_OF_JOB = `SELECT job_id, attempt, from_state, to_state, at, reason FROM job_events WHERE job_id = ? ORDER BY id`;

/** Parameters: id. */
const SELECT_CANCELLABLE = `SELECT id, state FROM jobs WHERE id = ? AND state IN ('queued', 'assigned', 'running')`;
/** Parameters: queue. */
const SELECT_CANCELLABLE_IN_QUEUE = `SELECT id, state FROM jobs WHERE queue = ? AND state IN ('queued', 'assigned', 'running') ORDER BY id`;
/**
 * A live job keeps node_id/devices: its attempt still runs there until the agent reports it gone.
 * Parameters: finished_at, updated_at, reason, id.
 */
const CANCEL_JOB = `UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?, reason = ?
  WHERE id = ? AND state IN ('queued', 'assigned', 'running') RETURNING ${JOB_COLUMNS}`;
/** Parameters: job_id. */
const FLAG_ATTEMPTS_FOR_KILL = `UPDATE attempts SET cancel_requested = 1 WHERE job_id = ? AND ${LIVE_ATTEMPT} RETURNING id, node_id`;

// The DLQ is small beside the jobs table; INDEXED BY keeps SQLite from scanning the table for it (it has no statistics on a young database).

/** Parameters: id. */
const SELECT_DLQ_JOB = `SELECT id, state FROM jobs WHERE id = ? AND in_dlq = 1`;
const SELECT_DLQ_ALL = `SELECT id, state FROM jobs INDEXED BY jobs_dlq WHERE in_dlq = 1 ORDER BY id`;
/** Parameters: queue. */
const SELECT_DLQ_IN_QUEUE = `SELECT id, state FROM jobs INDEXED BY jobs_dlq WHERE queue = ? AND in_dlq = 1 ORDER BY id`;
/** A fresh attempt budget of spec.maxAttempts on top of the attempts already made. Parameters: not_before, updated_at, id. */
const REPLAY_JOB = `UPDATE jobs SET state = 'queued', in_dlq = 0, attempt_limit = attempts + json_extract(spec, '$.maxAttempts'), deps_unmet = 0,
    not_before = ?, updated_at = ?, finished_at = NULL, node_id = NULL, devices = '[]', reason = 'replayed from DLQ'
  WHERE id = ? AND in_dlq = 1 RETURNING ${JOB_COLUMNS}`;
/** Parameters: updated_at, id. */
const UNDLQ_JOB = `UPDATE jobs SET in_dlq = 0, updated_at = ? WHERE id = ? AND in_dlq = 1`;
/** Parameters: updated_at. */
const UNDLQ_ALL = `UPDATE jobs INDEXED BY jobs_dlq SET in_dlq = 0, updated_at = ? WHERE in_dlq = 1`;
/** Parameters: updated_at, queue. */
const UNDLQ_IN_QUEUE = `UPDATE jobs INDEXED BY jobs_dlq SET in_dlq = 0, updated_at = ? WHERE queue = ? AND in_dlq = 1`;

/**
 * Terminal jobs out of the DLQ that finished before a time, oldest first. A cancelled job whose
 * attempt is still live (the agent has not yet killed it) is kept: it still holds devices.
 * Parameters: before, limit.
 */
const SELECT_PURGEABLE = `SELECT id FROM jobs j INDEXED BY jobs_finished_report WHERE finished_at < ? AND in_dlq = 0 AND state IN ('succeeded', 'failed', 'cancelled')
    AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.job_id = j.id AND a.${LIVE_ATTEMPT})
  ORDER BY finished_at LIMIT ?`;
/** Each: parameters: JSON array of job ids. */
const DELETE_EVENTS_OF = `DELETE FROM job_events WHERE job_id IN (SELECT value FROM json_each(?))`;
const DELETE_DEPENDENCIES_OF = `DELETE FROM job_dependencies WHERE job_id IN (SELECT value FROM json_each(?))`;
const DELETE_OUTPUTS_OF = `DELETE FROM attempt_outputs WHERE job_id IN (SELECT value FROM json_each(?))`;
const DELETE_ATTEMPTS_OF = `DELETE FROM attempts WHERE job_id IN (SELECT value FROM json_each(?))`;
const DELETE_JOBS = `DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))`;

const STATS_BY_QUEUE_STATE = `SELECT queue, state, count(*) AS count FROM jobs GROUP BY queue, state ORDER BY queue, state`;
const STATS_DLQ = `SELECT queue, count(*) AS count FROM jobs INDEXED BY jobs_dlq WHERE in_dlq = 1 GROUP BY queue ORDER BY queue`;

/** listJobs builds its SQL from the filter; each distinct shape is prepared once, up to this many shapes. */
const MAX_LIST_SHAPES = 256;

interface IdState {
  id: number;
  state: string;
}

export type JobQueries = ReturnType<typeof prepareJobQueries>;

const NO_DEPENDENCIES = { dependsOn: [] as number[] };

export function prepareJobQueries(db: Database, deps: DependencyQueries) {
  const insertJob = db.prepare<InsertJobParams>(INSERT_JOB);
  const insertEvent = db.prepare<InsertEventParams>(INSERT_EVENT);
  const selectJobByKey = db.prepare<[string], JobRow>(SELECT_JOB_BY_KEY);
  const selectJob = db.prepare<[number], JobRow>(SELECT_JOB);
  const selectAttemptsOfJob = db.prepare<[number], AttemptRow>(SELECT_ATTEMPTS_OF_JOB);
  const selectAttempt = db.prepare<[number], AttemptRow>(SELECT_ATTEMPT);
  const selectEventsOfJob = db.prepare<[number], EventRow>(SELECT_EVENTS_OF_JOB);
  const selectCancellable = db.prepare<[number], IdState>(SELECT_CANCELLABLE);
  const selectCancellableInQueue = db.prepare<[string], IdState>(SELECT_CANCELLABLE_IN_QUEUE);
  const cancelJob = db.prepare<[number, number, string, number], JobRow>(CANCEL_JOB);
  const flagAttemptsForKill = db.prepare<[number], { id: number; node_id: string }>(FLAG_ATTEMPTS_FOR_KILL);
  const selectDlqJob = db.prepare<[number], IdState>(SELECT_DLQ_JOB);
  const selectDlqAll = db.prepare<[], IdState>(SELECT_DLQ_ALL);
  const selectDlqInQueue = db.prepare<[string], IdState>(SELECT_DLQ_IN_QUEUE);
  const replayJob = db.prepare<[number, number, number], JobRow>(REPLAY_JOB);
  const undlqJob = db.prepare<[number, number]>(UNDLQ_JOB);
  const undlqAll = db.prepare<[number]>(UNDLQ_ALL);
  const undlqInQueue = db.prepare<[number, string]>(UNDLQ_IN_QUEUE);
  const selectPurgeable = db.prepare<[number, number], { id: number }>(SELECT_PURGEABLE);
  const deleteEventsOf = db.prepare<[string]>(DELETE_EVENTS_OF);
  const deleteDependenciesOf = db.prepare<[string]>(DELETE_DEPENDENCIES_OF);
  const deleteOutputsOf = db.prepare<[string]>(DELETE_OUTPUTS_OF);
  const deleteAttemptsOf = db.prepare<[string]>(DELETE_ATTEMPTS_OF);
  const deleteJobs = db.prepare<[string]>(DELETE_JOBS);
  const statsByQueueState = db.prepare<[], { queue: string; state: string; count: number }>(STATS_BY_QUEUE_STATE);
  const statsDlq = db.prepare<[], { queue: string; count: number }>(STATS_DLQ);
  const listShapes = new Map<string, Statement<unknown[], JobRow>>();

  /** The specs that will insert a job (their idempotency key, if any, is neither stored nor earlier in the call) must name stored jobs only. */
  function checkDependencies(specs: JobSpec[]) {
    const seen = new Set<string>();
    const inserting = specs.map((s) => {
      const key = s.idempotencyKey;
      if (key === undefined) return true;
      const fresh = !seen.has(key) && !selectJobByKey.get(key);
      seen.add(key);
      return fresh;
    });
    const known = deps.views(specs.flatMap((s, i) => (inserting[i] ? s.dependsOn : [])));
    const issues = missingDependencyIssues(specs.map((s, i) => (inserting[i] ? s : NO_DEPENDENCIES)), (id) => known.has(id));
    if (issues.length > 0) throw new ValidationError(issues);
    return known;
  }

  function submitJobs(specs: JobSpec[], now: number, owner: JobOwner | null = null): SubmitOutcome[] {
    // Checked before anything is written, so a missing dependency refuses the whole call.
    const known = specs.some((s) => s.dependsOn.length > 0) ? checkDependencies(specs) : null;
    const out: SubmitOutcome[] = [];
    for (const spec of specs) {
      const key = spec.idempotencyKey ?? null;
      if (key !== null) {
        const existing = selectJobByKey.get(key);
        if (existing) {
          out.push({ job: jobFromRow(existing), created: false });
          continue;
        }
      }
      const { backoff } = spec;
      const id = Number(
        insertJob.run(
          spec.name, spec.queue, spec.type, spec.priority, spec.gpus, spec.cpus, spec.memoryMb,
          JSON.stringify(spec.nodeSelector), JSON.stringify(spec.labels), JSON.stringify(spec),
          backoff.initialSeconds, backoff.maxSeconds, backoff.multiplier, key, spec.maxAttempts, now, now, now, owner?.name ?? null, owner?.tokenId ?? null,
        ).lastInsertRowid,
      );
      insertEvent.run(id, null, null, 'queued', now, null);
      const outcome = known !== null && spec.dependsOn.length > 0 ? deps.recordNew(id, spec.dependsOn, known, now) : null;
      out.push({ job: newJob(id, spec, now, owner, outcome?.kind === 'failed' ? outcome.reason : null), created: true });
    }
    return out;
  }

  function getJob(id: number): Job | null {
    const row = selectJob.get(id);
    return row ? jobFromRow(row) : null;
  }

  function listJobs(filter: JobFilter, page: PageRequest, sort: JobSort = DEFAULT_JOB_SORT): Page<Job> {
    checkPageLimit(page);
    const after = page.cursor === undefined ? null : decodeJobCursor(sort, page.cursor);
    if (filter.states !== undefined && filter.states.length === 0) return { items: [], nextCursor: null };
    const { sql, params } = listJobsSql(filter, after, page.limit + 1, sort);
    let stmt = listShapes.get(sql);
    if (!stmt) {
      if (listShapes.size >= MAX_LIST_SHAPES) listShapes.clear();
      stmt = db.prepare<unknown[], JobRow>(sql);
      listShapes.set(sql, stmt);
    }
    const rows = stmt.all(...params);
    const more = rows.length > page.limit;
    const items = (more ? rows.slice(0, page.limit) : rows).map((r) => jobFromRow(r));
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeJobCursor(sort, last) : null };
  }

  function listAttempts(jobId: number): Attempt[] {
    return selectAttemptsOfJob.all(jobId).map(attemptFromRow);
  }

  function getAttempt(attemptId: number): Attempt | null {
    const row = selectAttempt.get(attemptId);
    return row ? attemptFromRow(row) : null;
  }

  function listEvents(jobId: number): JobEvent[] {
    return selectEventsOfJob.all(jobId).map(eventFromRow);
  }

  function cancelJobs(selector: JobSelector, reason: string, now: number): CancelOutcome {
    const targets = 'ids' in selector ? unique(selector.ids).map((id) => selectCancellable.get(id)) : selectCancellableInQueue.all(selector.queue);
    const outcome: CancelOutcome = { cancelled: [], attemptsToKill: [], dependentsFailed: [] };
    for (const target of targets) {
      if (!target || isTerminal(target.state as JobState)) continue;
      const row = cancelJob.get(now, now, reason, target.id);
      if (!row) continue;
      insertEvent.run(target.id, target.state === 'queued' ? null : row.attempts, target.state, 'cancelled', now, reason);
      if (target.state !== 'queued') {
        for (const a of flagAttemptsForKill.all(target.id)) outcome.attemptsToKill.push({ attemptId: a.id, jobId: target.id, nodeId: a.node_id });
      }
      outcome.cancelled.push(jobFromRow(row));
    }
    if (outcome.cancelled.length > 0) outcome.dependentsFailed = deps.failDependents(outcome.cancelled.map((j) => ({ id: j.id, state: 'cancelled', reason })), now);
    return outcome;
  }

  function dlqTargets(selector: DlqSelector): (IdState | undefined)[] {
    if ('ids' in selector) return unique(selector.ids).map((id) => selectDlqJob.get(id));
    return selector.queue === undefined ? selectDlqAll.all() : selectDlqInQueue.all(selector.queue);
  }

  function replayJobs(selector: DlqSelector, now: number): Job[] {
    const replayed: Job[] = [];
    for (const target of dlqTargets(selector)) {
      if (!target) continue;
      const row = replayJob.get(now, now, target.id);
      if (!row) continue;
      insertEvent.run(target.id, null, target.state, 'queued', now, 'replayed from DLQ');
      // A job with dependencies waits for them again, or fails again at once.
      const failed = deps.reevaluate(target.id, now) !== null;
      replayed.push(jobFromRow(failed ? selectJob.get(target.id)! : row));
    }
    return replayed;
  }

  function purgeDlq(selector: DlqSelector, now: number): number {
    if ('ids' in selector) return unique(selector.ids).reduce((n, id) => n + undlqJob.run(now, id).changes, 0);
    return selector.queue === undefined ? undlqAll.run(now).changes : undlqInQueue.run(now, selector.queue).changes;
  }

  function purgeFinishedJobs(before: number, limit: number): number {
    const ids = selectPurgeable.all(before, limit).map((r) => r.id);
    if (ids.length === 0) return 0;
    const idsJson = JSON.stringify(ids);
    deleteEventsOf.run(idsJson);
    deleteDependenciesOf.run(idsJson);
    deleteOutputsOf.run(idsJson);
    deleteAttemptsOf.run(idsJson);
    return deleteJobs.run(idsJson).changes;
  }

  function jobStats(): JobStats {
    return {
      byQueueState: statsByQueueState.all().map((r) => ({ queue: r.queue, state: r.state as JobState, count: r.count })),
      dlqByQueue: statsDlq.all(),
    };
  }

  return { submitJobs, getJob, listJobs, listAttempts, getAttempt, listEvents, listDependencies: deps.list, cancelJobs, replayJobs, purgeDlq, purgeFinishedJobs, jobStats };
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)];
}
