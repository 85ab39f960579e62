import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, decideAfterAttempt, type JobAtAttemptEnd } from './retry-policy.js';

const backoff = { initialSeconds: 5, maxSeconds: 300, multiplier: 2 };
const job = (over: Partial<JobAtAttemptEnd> = {}): JobAtAttemptEnd => ({ state: 'running', attempts: 1, attemptLimit: 5, backoff, ...over });
const failed = { state: 'failed' as const, retryable: true, reason: 'exited with code 1' };

describe('backoffMs', () => {
  it('doubles from the initial delay, with equal jitter between half and the whole', () => {
    expect(backoffMs(backoff, 1, 0)).toBe(2500);
    expect(backoffMs(backoff, 1, 1)).toBe(5000);
    expect(backoffMs(backoff, 2, 1)).toBe(10_000);
    expect(backoffMs(backoff, 3, 0.5)).toBe(15_000);
  });

  it('never exceeds the cap and never falls below half the nominal delay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const d = backoffMs(backoff, n, r);
        const nominal = Math.min(300, 5 * 2 ** (n - 1)) * 1000;
        return d <= 300_000 && d >= nominal / 2 && d <= nominal;
      }),
    );
  });
});

describe('decideAfterAttempt', () => {
  it('succeeds', () => {
    expect(decideAfterAttempt(job(), { state: 'succeeded', retryable: false, reason: 'exit 0' }, 0, 0.5)).toMatchObject({ state: 'succeeded', toDlq: false });
  });

  it('requeues a retryable failure with attempts left, not before the backoff', () => {
    const d = decideAfterAttempt(job({ attempts: 2 }), failed, 1000, 1);
    expect(d).toMatchObject({ state: 'queued', toDlq: false, notBefore: 1000 + 10_000 });
    expect(d.reason).toContain('retry 3/5');
  });

  it('fails into the DLQ when the attempts are used up', () => {
    const d = decideAfterAttempt(job({ attempts: 5 }), failed, 0, 0);
    expect(d).toMatchObject({ state: 'failed', toDlq: true });
    expect(d.reason).toContain('gave up after 5');
  });

  it('fails at once on a non-retryable end, whatever attempts are left', () => {
    expect(decideAfterAttempt(job({ attempts: 1 }), { state: 'failed', retryable: false, reason: 'cannot start: ENOENT' }, 0, 0)).toMatchObject({ state: 'failed', toDlq: true });
  });

  it('retries lost and timed-out attempts like failures', () => {
    expect(decideAfterAttempt(job(), { state: 'lost', retryable: true, reason: 'lease expired' }, 0, 0).state).toBe('queued');
    expect(decideAfterAttempt(job(), { state: 'timed_out', retryable: true, reason: 'timed out' }, 0, 0).state).toBe('queued');
  });

  it('leaves a job that was cancelled (or already final) as it is', () => {
    for (const state of ['cancelled', 'succeeded', 'failed'] as const) {
      expect(decideAfterAttempt(job({ state }), failed, 0, 0).state).toBeNull();
    }
  });

  it('ends a cancelled attempt as a cancelled job', () => {
    expect(decideAfterAttempt(job(), { state: 'cancelled', retryable: false, reason: 'cancelled' }, 0, 0).state).toBe('cancelled');
  });
});
