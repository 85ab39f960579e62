import type { Backoff } from './job-spec.js';
import type { AttemptEndState, JobState } from './types.js';

/**
 * Backoff before attempt n+1 after n failed attempts: exponential, capped, with
 * "equal jitter" (half fixed, half random) so retries of many jobs failing at
 * once spread out but never come sooner than half the nominal delay.
 */
export function backoffMs(backoff: Backoff, failedAttempts: number, random: number): number {
  const nominal = Math.min(backoff.maxSeconds, backoff.initialSeconds * backoff.multiplier ** Math.max(0, failedAttempts - 1)) * 1000;
  return nominal / 2 + (nominal / 2) * random;
}

export interface AttemptEnd {
  state: AttemptEndState;
  /** False when running again cannot help (the program does not exist, the job was cancelled). */
  retryable: boolean;
  reason: string;
}

export interface JobAtAttemptEnd {
  state: JobState;
  attempts: number;
  attemptLimit: number;
  backoff: Backoff;
}

export interface JobDecision {
  /** null: leave the job as it is (it was cancelled while the attempt ran). */
  state: JobState | null;
  notBefore?: number;
  toDlq: boolean;
  reason: string;
}

/** What happens to a job when one of its attempts ends. Pure: time and randomness are inputs. */
export function decideAfterAttempt(job: JobAtAttemptEnd, end: AttemptEnd, now: number, random: number): JobDecision {
  if (job.state === 'cancelled' || job.state === 'succeeded' || job.state === 'failed') {
    return { state: null, toDlq: false, reason: end.reason };
  }
  if (end.state === 'succeeded') return { state: 'succeeded', toDlq: false, reason: end.reason };
  if (end.state === 'cancelled') return { state: 'cancelled', toDlq: false, reason: end.reason };
  if (!end.retryable) {
    return { state: 'failed', toDlq: true, reason: `${end.reason} (not retryable)` };
  }
  if (job.attempts >= job.attemptLimit) {
    return { state: 'failed', toDlq: true, reason: `${end.reason}; gave up after ${job.attempts} attempt(s)` };
  }
  const delay = backoffMs(job.backoff, job.attempts, random);
  return { state: 'queued', notBefore: now + delay, toDlq: false, reason: `${end.reason}; retry ${job.attempts + 1}/${job.attemptLimit} in ${(delay / 1000).toFixed(1)}s` };
}
