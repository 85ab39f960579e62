import type { Backoff } from './job-spec.js';
import { backoffMs } from './retry-policy.js';

/**
 * What happens to a pool task when a delivery ends without a result (ADR 0016). Pure: time and randomness are inputs.
 *
 *   queued ─claim→ running ─result→ succeeded
 *   running ─error (retryable, attempts left)→ queued, not before now + backoff
 *   running ─error (not retryable, or attempts used up)→ failed, in the pool's DLQ
 *   running ─replica ended / task timed out (attempts left)→ queued at once, redelivered to another replica
 *   running ─replica ended / task timed out (attempts used up)→ failed, in the pool's DLQ
 *   failed (DLQ) ─replay→ queued with attemptLimit raised by maxAttempts
 */
export interface TaskAtDeliveryEnd {
  attempts: number;
  attemptLimit: number;
  backoff: Backoff;
}

export type TaskDecision = { state: 'queued'; notBefore: number; reason: string } | { state: 'failed'; reason: string };

/** The worker answered `error` for the task. */
export function decideAfterTaskError(task: TaskAtDeliveryEnd, error: string, retryable: boolean, now: number, random: number): TaskDecision {
  if (!retryable) return { state: 'failed', reason: `${error} (not retryable)` };
  if (task.attempts >= task.attemptLimit) return { state: 'failed', reason: `${error}; gave up after ${task.attempts} attempt(s)` };
  const delay = backoffMs(task.backoff, task.attempts, random);
  return { state: 'queued', notBefore: now + delay, reason: `${error}; retry ${task.attempts + 1}/${task.attemptLimit} in ${(delay / 1000).toFixed(1)}s` };
}

/** The delivery was lost: its replica ended (crash, eviction, lost node) or the task ran past the pool's task timeout. Redelivered at once. */
export function decideAfterLostDelivery(task: TaskAtDeliveryEnd, why: string, now: number): TaskDecision {
  if (task.attempts >= task.attemptLimit) return { state: 'failed', reason: `${why}; gave up after ${task.attempts} attempt(s)` };
  return { state: 'queued', notBefore: now, reason: `${why}; redelivered (attempt ${task.attempts + 1}/${task.attemptLimit})` };
}
