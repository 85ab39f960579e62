import type { Database } from 'better-sqlite3';
import { dependentsToFail, evaluateDependencies, type DependencyOutcome, type DependencyView, type EndedJob, type JobDependency } from '../../core/dependencies.js';
import type { JobState } from '../../core/types.js';
import type { FailedDependent } from '../store.js';
import { INSERT_EVENT, type InsertEventParams } from './shared-sql.js';

/**
 * Job dependencies (core/dependencies.ts says what they mean): the edges of `job_dependencies`, each
 * queued job's count of unmet ones (`jobs.deps_unmet`, which keeps waiting jobs out of the
 * scheduler's index), and what a dependency's end does to the jobs waiting for it. Functions here run
 * inside the transaction of the submit, end, cancel or replay that calls them.
 */

/** Parameters: JSON array of job ids. */
const SELECT_STATES = `SELECT id, state, reason FROM jobs WHERE id IN (SELECT value FROM json_each(?))`;
/** Parameters: job_id, depends_on, met (0/1). */
const INSERT_EDGE = `INSERT INTO job_dependencies (job_id, depends_on, met) VALUES (?, ?, ?)`;
/** Parameters: deps_unmet, id. */
const SET_UNMET = `UPDATE jobs SET deps_unmet = ? WHERE id = ?`;
/** A dependency succeeded: its edges are met for good. Parameters: depends_on. */
const MEET_EDGES = `UPDATE job_dependencies SET met = 1 WHERE depends_on = ? AND met = 0 RETURNING job_id`;
/** Only queued jobs wait; a failed one's count is recomputed if it is ever replayed. Parameters: id. */
const DECREMENT_UNMET = `UPDATE jobs SET deps_unmet = deps_unmet - 1 WHERE id = ? AND state = 'queued' AND deps_unmet > 0`;
/** Parameters: job_id, depends_on. */
const MEET_EDGE = `UPDATE job_dependencies SET met = 1 WHERE job_id = ? AND depends_on = ?`;
/** Queued jobs still waiting for any of the given jobs. Parameters: JSON array of job ids. */
const SELECT_WAITING_DEPENDENTS = `SELECT d.job_id, d.depends_on FROM job_dependencies d INDEXED BY job_dependencies_waiting JOIN jobs j ON j.id = d.job_id
  WHERE d.depends_on IN (SELECT value FROM json_each(?)) AND d.met = 0 AND j.state = 'queued' ORDER BY d.job_id`;
/** Parameters: reason, finished_at, updated_at, id. */
const FAIL_QUEUED = `UPDATE jobs SET state = 'failed', in_dlq = 1, reason = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = 'queued' RETURNING queue`;
/** A job's dependencies with what is known of them (a purged one has no jobs row). Parameters: job_id. */
const SELECT_EDGES_OF = `SELECT d.depends_on, d.met, j.state, j.reason FROM job_dependencies d LEFT JOIN jobs j ON j.id = d.depends_on
  WHERE d.job_id = ? ORDER BY d.depends_on`;

interface EdgeRow {
  depends_on: number;
  met: number;
  state: string | null;
  reason: string | null;
}

export type DependencyQueries = ReturnType<typeof prepareDependencyQueries>;

export function prepareDependencyQueries(db: Database) {
  const selectStates = db.prepare<[string], { id: number; state: string; reason: string | null }>(SELECT_STATES);
  const insertEdge = db.prepare<[number, number, number]>(INSERT_EDGE);
  const setUnmet = db.prepare<[number, number]>(SET_UNMET);
  const meetEdges = db.prepare<[number], { job_id: number }>(MEET_EDGES);
  const decrementUnmet = db.prepare<[number]>(DECREMENT_UNMET);
  const meetEdge = db.prepare<[number, number]>(MEET_EDGE);
  const selectWaitingDependents = db.prepare<[string], { job_id: number; depends_on: number }>(SELECT_WAITING_DEPENDENTS);
  const failQueued = db.prepare<[string, number, number, number], { queue: string }>(FAIL_QUEUED);
  const selectEdgesOf = db.prepare<[number], EdgeRow>(SELECT_EDGES_OF);
  const insertEvent = db.prepare<InsertEventParams>(INSERT_EVENT);

  /** The stored jobs among `ids`, as dependencies (ids not stored are absent). */
  function views(ids: readonly number[]): Map<number, DependencyView> {
    if (ids.length === 0) return new Map();
    return new Map(selectStates.all(JSON.stringify([...new Set(ids)])).map((r) => [r.id, { id: r.id, state: r.state as JobState, reason: r.reason }]));
  }

  /**
   * Records a just inserted (queued) job's dependencies, every one stored (the caller checked), and applies
   * what they mean for it: it waits for those not ended, or fails at once when one failed or was cancelled.
   */
  function recordNew(jobId: number, dependsOn: readonly number[], known: Map<number, DependencyView>, now: number): DependencyOutcome {
    const deps = dependsOn.map((id) => known.get(id)!);
    for (const d of deps) insertEdge.run(jobId, d.id, d.state === 'succeeded' ? 1 : 0);
    const outcome = evaluateDependencies(deps);
    if (outcome.kind === 'waiting') setUnmet.run(outcome.waitingOn.length, jobId);
    if (outcome.kind === 'failed') {
      failQueued.get(outcome.reason, now, now, jobId);
      insertEvent.run(jobId, null, 'queued', 'failed', now, outcome.reason);
    }
    return outcome;
  }

  /** A job succeeded: the jobs waiting for it have one dependency fewer to wait for. */
  function succeeded(jobId: number): void {
    for (const r of meetEdges.all(jobId)) decrementUnmet.run(r.job_id);
  }

  /**
   * Jobs ended failed or cancelled: every queued job waiting for one of them ends failed, and so on down
   * the chain. Returns the jobs failed, in the order failed.
   */
  function failDependents(ended: readonly EndedJob[], now: number): FailedDependent[] {
    const failed: FailedDependent[] = [];
    for (let level = ended; level.length > 0; ) {
      const edges = selectWaitingDependents.all(JSON.stringify(level.map((e) => e.id))).map((r) => ({ jobId: r.job_id, dependsOn: r.depends_on }));
      const doomed = dependentsToFail(level, edges);
      const next: EndedJob[] = [];
      for (const d of doomed) {
        const row = failQueued.get(d.reason, now, now, d.jobId);
        if (row === undefined) continue;
        insertEvent.run(d.jobId, null, 'queued', 'failed', now, d.reason);
        failed.push({ id: d.jobId, queue: row.queue });
        next.push({ id: d.jobId, state: 'failed', reason: d.reason });
      }
      level = next;
    }
    return failed;
  }

  /**
   * A job just put back in the queue (DLQ replay) looks at its dependencies again: it waits for those
   * not ended, or fails at once (and fails its own waiting dependents). Returns the failure reason, or
   * null when it stays queued.
   */
  function reevaluate(jobId: number, now: number): string | null {
    const edges = selectEdgesOf.all(jobId);
    if (edges.length === 0) return null;
    const views = edges.map((e): DependencyView => ({ id: e.depends_on, state: e.state as JobState | null, reason: e.reason, met: e.met === 1 }));
    for (const v of views) if (!v.met && v.state === 'succeeded') meetEdge.run(jobId, v.id);
    const outcome = evaluateDependencies(views);
    setUnmet.run(outcome.kind === 'waiting' ? outcome.waitingOn.length : 0, jobId);
    if (outcome.kind !== 'failed') return null;
    failQueued.get(outcome.reason, now, now, jobId);
    insertEvent.run(jobId, null, 'queued', 'failed', now, outcome.reason);
    failDependents([{ id: jobId, state: 'failed', reason: outcome.reason }], now);
    return outcome.reason;
  }

  function list(jobId: number): JobDependency[] {
    return selectEdgesOf.all(jobId).map((e) => ({ jobId: e.depends_on, state: e.state as JobState | null, met: e.met === 1 }));
  }

  return { views, recordNew, succeeded, failDependents, reevaluate, list };
}
