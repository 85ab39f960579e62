import { dependentsToFail, evaluateDependencies, type DependencyOutcome, type DependencyView, type EndedJob, type JobDependency } from '../../core/dependencies.js';
import type { JobState } from '../../core/types.js';
import type { FailedDependent } from '../store.js';
import type { Sql } from './postgres-pool.js';

/**
 * Job dependencies (core/dependencies.ts says what they mean): the edges of `job_dependencies`, each
 * queued job's count of unmet ones (`jobs.deps_unmet`, which keeps waiting jobs out of the scheduler's
 * index), and what a dependency's end does to the jobs waiting for it. Functions here run in the write
 * transaction of the submit, end, cancel or replay that calls them, set-based (one statement per step
 * for any number of jobs; a chain of failures costs one round of two statements per level).
 *
 * Concurrency with other replicas: a submit (or replay) locks the jobs it depends on FOR SHARE before
 * it reads their state, and every end of a job holds that job's row FOR NO KEY UPDATE, which conflicts.
 * So a dependency's end either commits first (the submit then reads its final state) or waits for the
 * submit's commit (its next statement, in a new READ COMMITTED snapshot, then sees the new edges).
 */

/** Parameters: job ids bigint[]. */
const LOCK_STATES = `SELECT id, state, reason FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR SHARE`;
/** Parameters: job_id bigint[], depends_on bigint[], met bool[]. */
const INSERT_EDGES = `INSERT INTO job_dependencies (job_id, depends_on, met) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bool[])`;
/**
 * CTEs (two, named met and released) for a statement that ends jobs: the jobs in the bigint[] parameter
 * `param` succeeded, so their edges are met for good and the queued jobs waiting for them have that many
 * dependencies fewer to wait for (a failed one's count is recomputed if it is ever replayed). Part of
 * endAttempts' write, so a success costs no extra round trip.
 */
export const meetDependentsCtes = (param: string): string => `met AS (
    UPDATE job_dependencies SET met = true WHERE depends_on = ANY(${param}::bigint[]) AND NOT met RETURNING job_id
  ), released AS (
    UPDATE jobs j SET deps_unmet = greatest(0, j.deps_unmet - m.n)
    FROM (SELECT job_id, count(*)::int AS n FROM met GROUP BY job_id) m
    WHERE j.id = m.job_id AND j.state = 'queued'
  )`;
/** Queued jobs waiting for any of the given jobs, locked (jobs before anything else). Parameters: job ids bigint[]. */
const LOCK_WAITING_DEPENDENTS = `SELECT d.job_id, d.depends_on FROM job_dependencies d JOIN jobs j ON j.id = d.job_id
  WHERE d.depends_on = ANY($1::bigint[]) AND NOT d.met AND j.state = 'queued' ORDER BY d.job_id FOR NO KEY UPDATE OF j`;
/** Fails queued jobs with their reasons, and records the events. Parameters: ids bigint[], reasons text[], now. */
const FAIL_QUEUED = `WITH failed AS (
    UPDATE jobs j SET state = 'failed', in_dlq = true, reason = f.reason, finished_at = $3, updated_at = $3
    FROM unnest($1::bigint[], $2::text[]) AS f(id, reason) WHERE j.id = f.id AND j.state = 'queued'
    RETURNING j.id, j.queue, f.reason
  ),
  events AS (
    INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
    SELECT id, NULL, 'queued', 'failed', $3, reason FROM failed ORDER BY id
  )
  SELECT id, queue FROM failed`;
/** Every dependency of the given jobs. Parameters: job ids bigint[]. */
const SELECT_EDGES = `SELECT job_id, depends_on, met FROM job_dependencies WHERE job_id = ANY($1::bigint[]) ORDER BY job_id, depends_on`;
/** Parameters: job_id bigint[], depends_on bigint[]. */
const MEET_EDGES = `UPDATE job_dependencies d SET met = true FROM unnest($1::bigint[], $2::bigint[]) AS e(job_id, depends_on)
  WHERE d.job_id = e.job_id AND d.depends_on = e.depends_on`;
/** Parameters: ids bigint[], deps_unmet int[]. */
const SET_UNMET = `UPDATE jobs j SET deps_unmet = u.n FROM unnest($1::bigint[], $2::int[]) AS u(id, n) WHERE j.id = u.id`;
/** A job's dependencies with what is known of them (a purged one has no jobs row). Parameters: job_id. */
const SELECT_EDGES_OF = `SELECT d.depends_on, d.met, j.state FROM job_dependencies d LEFT JOIN jobs j ON j.id = d.depends_on
  WHERE d.job_id = $1 ORDER BY d.depends_on`;

/** The stored jobs among `ids`, as dependencies, locked FOR SHARE until the transaction ends (ids not stored are absent). */
export async function lockDependencies(sql: Sql, ids: readonly number[]): Promise<Map<number, DependencyView>> {
  if (ids.length === 0) return new Map();
  const rows = await sql.query<{ id: number; state: string; reason: string | null }>(LOCK_STATES, [[...new Set(ids)]]);
  return new Map(rows.map((r) => [r.id, { id: r.id, state: r.state as JobState, reason: r.reason }]));
}

/** What each new job's dependencies (all in `known`) mean for it, before it is inserted: its count of unmet ones comes from this. */
export function outcomesOf(dependsOn: readonly (readonly number[])[], known: Map<number, DependencyView>): DependencyOutcome[] {
  return dependsOn.map((ids) => evaluateDependencies(ids.map((id) => known.get(id)!)));
}

/** Records just inserted jobs' dependencies, and fails at once those whose outcome is `failed`. */
export async function recordNew(sql: Sql, jobs: { id: number; dependsOn: readonly number[]; outcome: DependencyOutcome }[], known: Map<number, DependencyView>, now: number): Promise<void> {
  const edges = jobs.flatMap((j) => j.dependsOn.map((d) => ({ jobId: j.id, dependsOn: d, met: known.get(d)?.state === 'succeeded' })));
  if (edges.length === 0) return;
  await sql.query(INSERT_EDGES, [edges.map((e) => e.jobId), edges.map((e) => e.dependsOn), edges.map((e) => e.met)]);
  const failed = jobs.flatMap((j) => (j.outcome.kind === 'failed' ? [{ id: j.id, reason: j.outcome.reason }] : []));
  if (failed.length > 0) await sql.query(FAIL_QUEUED, [failed.map((f) => f.id), failed.map((f) => f.reason), now]);
}

/**
 * Jobs ended failed or cancelled: every queued job waiting for one of them ends failed, and so on down
 * the chain. Returns the jobs failed, each with `root`: the job of `ended` whose end failed it.
 */
export async function failDependents(sql: Sql, ended: readonly EndedJob[], now: number): Promise<(FailedDependent & { root: number })[]> {
  const failed: (FailedDependent & { root: number })[] = [];
  const rootOf = new Map(ended.map((e) => [e.id, e.id]));
  for (let level = ended; level.length > 0; ) {
    const rows = await sql.query<{ job_id: number; depends_on: number }>(LOCK_WAITING_DEPENDENTS, [level.map((e) => e.id)]);
    if (rows.length === 0) break;
    const doomed = dependentsToFail(level, rows.map((r) => ({ jobId: r.job_id, dependsOn: r.depends_on })));
    const done = new Map((await sql.query<{ id: number; queue: string }>(FAIL_QUEUED, [doomed.map((d) => d.jobId), doomed.map((d) => d.reason), now])).map((r) => [r.id, r.queue]));
    const next = doomed.filter((d) => done.has(d.jobId));
    for (const d of next) {
      rootOf.set(d.jobId, rootOf.get(d.dependencyId)!);
      failed.push({ id: d.jobId, queue: done.get(d.jobId)!, root: rootOf.get(d.jobId)! });
    }
    level = next.map((d) => ({ id: d.jobId, state: 'failed', reason: d.reason }));
  }
  return failed;
}

/**
 * Jobs just put back in the queue (DLQ replay) look at their dependencies again: each waits for those
 * not ended, or fails at once (failing its own waiting dependents). Returns the ids that failed again.
 */
export async function reevaluate(sql: Sql, jobIds: readonly number[], now: number): Promise<Set<number>> {
  if (jobIds.length === 0) return new Set();
  const edges = await sql.query<{ job_id: number; depends_on: number; met: boolean }>(SELECT_EDGES, [jobIds]);
  if (edges.length === 0) return new Set();
  const known = await lockDependencies(sql, edges.filter((e) => !e.met).map((e) => e.depends_on));
  const byJob = new Map<number, DependencyView[]>();
  const meet: { jobId: number; dependsOn: number }[] = [];
  for (const e of edges) {
    const view: DependencyView = e.met ? { id: e.depends_on, state: 'succeeded', reason: null, met: true } : (known.get(e.depends_on) ?? { id: e.depends_on, state: null, reason: null });
    if (!e.met && view.state === 'succeeded') meet.push({ jobId: e.job_id, dependsOn: e.depends_on });
    byJob.set(e.job_id, [...(byJob.get(e.job_id) ?? []), view]);
  }
  if (meet.length > 0) await sql.query(MEET_EDGES, [meet.map((m) => m.jobId), meet.map((m) => m.dependsOn)]);
  const outcomes = [...byJob.entries()].map(([id, views]) => ({ id, outcome: evaluateDependencies(views) }));
  await sql.query(SET_UNMET, [outcomes.map((o) => o.id), outcomes.map((o) => (o.outcome.kind === 'waiting' ? o.outcome.waitingOn.length : 0))]);
  const failed = outcomes.flatMap((o) => (o.outcome.kind === 'failed' ? [{ id: o.id, state: 'failed' as const, reason: o.outcome.reason }] : []));
  if (failed.length === 0) return new Set();
  await sql.query(FAIL_QUEUED, [failed.map((f) => f.id), failed.map((f) => f.reason), now]);
  await failDependents(sql, failed, now);
  return new Set(failed.map((f) => f.id));
}

export async function listDependencies(sql: Sql, jobId: number): Promise<JobDependency[]> {
  const rows = await sql.query<{ depends_on: number; met: boolean; state: string | null }>(SELECT_EDGES_OF, [jobId]);
  return rows.map((r) => ({ jobId: r.depends_on, state: r.state as JobState | null, met: r.met }));
}
