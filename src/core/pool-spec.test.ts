import { describe, expect, it } from 'vitest';
import { ValidationError } from './errors.js';
import { mergePoolUpdate, parsePoolSpec, parseTaskInputs, POOL_LIMITS } from './pool-spec.js';
import { decideAfterLostDelivery, decideAfterTaskError } from './pool-task-policy.js';

const issuesOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof ValidationError) return e.issues;
    throw e;
  }
  throw new Error('expected a ValidationError');
};

describe('pool spec', () => {
  it('fills every default', () => {
    const s = parsePoolSpec({ name: 'embed', command: ['python3', 'w.py'] });
    expect(s).toMatchObject({ gpus: 0, minReplicas: 0, maxReplicas: 1, targetBacklog: 10, concurrency: 1, maxAttempts: 3, memoryPolicy: { killOnOom: true, evictionPriority: 0 } });
  });

  it('names each field and rule broken', () => {
    const issues = issuesOf(() => parsePoolSpec({ name: 'Bad_Name', command: [], gpus: -1, minReplicas: 3, maxReplicas: 2, env: { GPUQ_X: '1' }, extra: 1 }));
    const paths = issues.map((i) => i.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['name', 'command', 'gpus', 'env.GPUQ_X', '']));
    expect(issues.find((i) => i.path === '')!.message).toContain('"extra"');
    expect(issuesOf(() => parsePoolSpec({ name: 'a', command: ['w'], minReplicas: 3, maxReplicas: 2 }))).toEqual([{ path: 'maxReplicas', message: 'must be at least minReplicas' }]);
    expect(issuesOf(() => parsePoolSpec({ name: 'stop-all', command: ['w'] }))[0]!.path).toBe('name');
  });

  it('updates any field but the name', () => {
    const s = parsePoolSpec({ name: 'a', command: ['w'], maxReplicas: 2 });
    expect(mergePoolUpdate(s, { maxReplicas: 4 }).maxReplicas).toBe(4);
    expect(issuesOf(() => mergePoolUpdate(s, { name: 'b' }))).toEqual([{ path: 'name', message: 'a pool cannot be renamed' }]);
    expect(issuesOf(() => mergePoolUpdate(s, { minReplicas: 3 }))[0]!.path).toBe('maxReplicas');
  });
});

describe('task inputs', () => {
  it('keeps each payload as JSON text, with its idempotency key', () => {
    expect(parseTaskInputs([{ payload: { x: 1 } }, { payload: null, idempotencyKey: 'k' }])).toEqual([{ payloadJson: '{"x":1}' }, { payloadJson: 'null', idempotencyKey: 'k' }]);
  });

  it('refuses a missing payload, unknown fields, an empty or oversized batch, an oversized payload', () => {
    expect(issuesOf(() => parseTaskInputs([{ idempotencyKey: 'k' }]))).toEqual([{ path: 'tasks.0.payload', message: 'is required (any JSON value)' }]);
    expect(issuesOf(() => parseTaskInputs([{ payload: 1, extra: 2 }]))[0]!.path).toBe('tasks.0');
    expect(issuesOf(() => parseTaskInputs([]))[0]!.message).toContain('at least one');
    expect(issuesOf(() => parseTaskInputs(Array.from({ length: POOL_LIMITS.maxBatch + 1 }, () => ({ payload: 1 }))))[0]!.message).toContain(`at most ${POOL_LIMITS.maxBatch}`);
    const big = 'é'.repeat(POOL_LIMITS.maxPayloadBytes / 2);
    expect(issuesOf(() => parseTaskInputs([{ payload: 1 }, { payload: big }]))).toEqual([{ path: 'tasks.1.payload', message: `is ${POOL_LIMITS.maxPayloadBytes + 2} bytes of JSON; at most ${POOL_LIMITS.maxPayloadBytes}` }]);
  });
});

describe('pool task policy', () => {
  const backoff = { initialSeconds: 2, maxSeconds: 60, multiplier: 2 };
  it('retries a retryable error after the backoff while attempts are left, else fails it into the DLQ', () => {
    expect(decideAfterTaskError({ attempts: 1, attemptLimit: 3, backoff }, 'busy', true, 1000, 0.5)).toEqual({ state: 'queued', notBefore: 1000 + 1500, reason: 'busy; retry 2/3 in 1.5s' });
    expect(decideAfterTaskError({ attempts: 3, attemptLimit: 3, backoff }, 'busy', true, 1000, 0.5)).toEqual({ state: 'failed', reason: 'busy; gave up after 3 attempt(s)' });
    expect(decideAfterTaskError({ attempts: 1, attemptLimit: 3, backoff }, 'bad input', false, 1000, 0.5)).toEqual({ state: 'failed', reason: 'bad input (not retryable)' });
  });

  it('redelivers a lost delivery at once while attempts are left', () => {
    expect(decideAfterLostDelivery({ attempts: 1, attemptLimit: 2, backoff }, 'replica 7 ended', 5)).toEqual({ state: 'queued', notBefore: 5, reason: 'replica 7 ended; redelivered (attempt 2/2)' });
    expect(decideAfterLostDelivery({ attempts: 2, attemptLimit: 2, backoff }, 'replica 7 ended', 5)).toEqual({ state: 'failed', reason: 'replica 7 ended; gave up after 2 attempt(s)' });
  });
});
