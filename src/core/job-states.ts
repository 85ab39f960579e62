import type { JobState } from './types.js';

/**
 * The job state machine, in one place:
 *
 *   queued    → assigned   (scheduler placed it)        | cancelled (user)
 *   assigned  → running    (process started)            | queued (attempt lost/failed, attempts left) | failed | cancelled
 *   running   → succeeded  | queued (retry after backoff) | failed (no attempts left, or non-retryable) | cancelled
 *   failed    → queued     (DLQ replay)
 *   succeeded, cancelled: final.
 */
const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  queued: ['assigned', 'cancelled'],
  assigned: ['running', 'queued', 'succeeded', 'failed', 'cancelled'],
  running: ['succeeded', 'queued', 'failed', 'cancelled'],
  failed: ['queued'],
  succeeded: [],
  cancelled: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

export function isLive(state: JobState): boolean {
  return state === 'assigned' || state === 'running';
}
