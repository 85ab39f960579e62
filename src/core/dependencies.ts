import type { FieldIssue } from './errors.js';
import type { JobState } from './types.js';

/**
 * Job dependencies: a job's `dependsOn` names jobs it waits for. The rules, in one place:
 *
 *   - A job whose dependencies have not all succeeded stays `queued` (no state of its own); the
 *     scheduler never reads it (the stores keep a count of its unmet dependencies, and the queue
 *     index holds only jobs whose count is 0).
 *   - A dependency that succeeds is met for good (success is final).
 *   - A dependency that ends `failed` (for good: retries come first) or `cancelled` fails every job
 *     still waiting for it, with the reason "dependency job N failed: <its reason>", and those jobs
 *     fail their own waiting dependents in turn, in the same transaction. They go to the DLQ like any
 *     failed job.
 *   - At submit, every named job must exist (else VALIDATION_FAILED, nothing stored). One already
 *     succeeded is met; one already failed or cancelled fails the new job at once (it is created,
 *     then failed, as if the dependency had ended just after the submit).
 *   - DLQ replay of a dependency does not bring back the jobs it failed; replaying one of those
 *     evaluates its dependencies again: it waits for those not ended, and fails at once if one is
 *     failed or cancelled, or no longer stored (a dependency purged by retention counts as met only
 *     when it had succeeded, which the store remembers on the edge).
 *
 * Pure: the stores read states, ask here what they mean, and apply the answer.
 */

/** A dependency as a store sees it when deciding: its id, its state (null: no longer stored), and its reason. */
export interface DependencyView {
  id: number;
  state: JobState | null;
  reason: string | null;
  /** The dependency is known to have succeeded (remembered even after retention purged it). */
  met?: boolean;
}

/** One dependency of a job, as the API reports it. */
export interface JobDependency {
  jobId: number;
  /** null: retention has purged it. */
  state: JobState | null;
  /** It succeeded: the job no longer waits for it. */
  met: boolean;
}

export type DependencyOutcome =
  /** Every dependency succeeded: the job may run. */
  | { kind: 'ready' }
  /** Some dependencies have not ended yet: the job waits for these (in the order given). */
  | { kind: 'waiting'; waitingOn: number[] }
  /** A dependency failed, was cancelled or is gone: the job fails with this reason. */
  | { kind: 'failed'; dependencyId: number; reason: string };

/** Reasons are stored and shown; a long chain of failed dependencies must not grow them without bound. */
export const MAX_DEPENDENCY_REASON = 2000;

/** What a job's dependencies mean for it now. The first dependency that dooms it (in the order given) names the reason. */
export function evaluateDependencies(deps: readonly DependencyView[]): DependencyOutcome {
  const waitingOn: number[] = [];
  for (const d of deps) {
    if (d.met === true || d.state === 'succeeded') continue;
    if (d.state === null) return { kind: 'failed', dependencyId: d.id, reason: cap(`dependency job ${d.id} no longer exists (purged by retention) and is not known to have succeeded`) };
    if (d.state === 'failed' || d.state === 'cancelled') return { kind: 'failed', dependencyId: d.id, reason: dependencyFailureReason(d.id, d.state, d.reason) };
    waitingOn.push(d.id);
  }
  return waitingOn.length === 0 ? { kind: 'ready' } : { kind: 'waiting', waitingOn };
}

/** The reason a job fails with when its dependency `id` ended `state` (failed or cancelled) for `reason`. */
export function dependencyFailureReason(id: number, state: 'failed' | 'cancelled', reason: string | null): string {
  const what = state === 'cancelled' ? 'was cancelled' : 'failed';
  return cap(`dependency job ${id} ${what}${reason ? `: ${reason}` : ''}`);
}

/** A job that ended failed or cancelled, with the reason it ended with. */
export interface EndedJob {
  id: number;
  state: 'failed' | 'cancelled';
  reason: string | null;
}

/**
 * The jobs to fail because jobs they wait for ended failed or cancelled: one entry per waiting
 * dependent (`edges` are its unmet dependencies among `ended`), named by the first of its ended
 * dependencies in `ended` order. The stores call this level by level: the jobs it fails end
 * `failed`, and are the `ended` of the next level.
 */
export function dependentsToFail(ended: readonly EndedJob[], edges: readonly { jobId: number; dependsOn: number }[]): { jobId: number; dependencyId: number; reason: string }[] {
  const rank = new Map(ended.map((e, i) => [e.id, i]));
  const first = new Map<number, number>();
  for (const e of edges) {
    const r = rank.get(e.dependsOn);
    if (r === undefined) continue;
    const prev = first.get(e.jobId);
    if (prev === undefined || r < prev) first.set(e.jobId, r);
  }
  return [...first.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([jobId, r]) => {
      const dep = ended[r]!;
      return { jobId, dependencyId: dep.id, reason: dependencyFailureReason(dep.id, dep.state, dep.reason) };
    });
}

/** Why a queued job waits for its dependencies, for `gpuq show`: "waiting for job 12 (running)", "waiting for 3 jobs: 12 (running), 13 (queued), …". */
export function dependencyWaitingReason(deps: readonly JobDependency[]): string | null {
  const open = deps.filter((d) => !d.met && d.state !== 'succeeded');
  if (open.length === 0) return null;
  const shown = open.slice(0, 5).map((d) => `${d.jobId} (${d.state ?? 'purged'})`);
  const more = open.length > shown.length ? `, and ${open.length - shown.length} more` : '';
  return open.length === 1 ? `waiting for job ${shown[0]} to succeed` : `waiting for ${open.length} jobs to succeed: ${shown.join(', ')}${more}`;
}

/**
 * Issues for dependencies that do not exist, as a submit reports them: `dependsOn.<k>` for one spec,
 * `jobs.<i>.dependsOn.<k>` in a batch of several (the paths parseJobSpec uses for the same fields).
 */
export function missingDependencyIssues(specs: readonly { dependsOn: readonly number[] }[], exists: (id: number) => boolean): FieldIssue[] {
  const issues: FieldIssue[] = [];
  specs.forEach((s, i) => {
    s.dependsOn.forEach((id, k) => {
      if (exists(id)) return;
      const path = specs.length > 1 ? `jobs.${i}.dependsOn.${k}` : `dependsOn.${k}`;
      issues.push({ path, message: `job ${id} does not exist (never submitted, or purged by retention): a job may depend only on jobs already submitted` });
    });
  });
  return issues;
}

function cap(reason: string): string {
  return reason.length <= MAX_DEPENDENCY_REASON ? reason : `${reason.slice(0, MAX_DEPENDENCY_REASON - 1)}…`;
}
