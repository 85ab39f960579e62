import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../core/errors.js';
import { POOL_LIMITS } from '../core/pool-spec.js';
import { decodeExchangeResponse, decodeWorkerMessage, encodeTask, HOST_EXIT, MAX_ERROR_CHARS, REPLICA_END_REASONS, replicaPath } from './protocol.js';
import { endRequestSchema, exchangeRequestSchema, exchangeResponseSchema, parseExchangeRequest, taskMessageSchema, workerMessageSchema } from './protocol-schemas.js';

/** Values near the rules' edges: right types, wrong types, boundaries. */
const anyValue = fc.oneof(fc.constant(undefined), fc.constant(null), fc.boolean(), fc.constantFrom(0, 1, -1, 1.5, 2 ** 53, 'x', ''), fc.jsonValue({ maxDepth: 2 }));
const id = fc.oneof(fc.integer({ min: 1, max: 1e9 }), anyValue);
const withoutUndefined = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

const outcome = fc.oneof(
  fc.record({ taskId: id, attempt: id, result: anyValue }).map(withoutUndefined),
  fc.record({ taskId: id, attempt: id, error: fc.oneof(fc.string(), anyValue), retryable: fc.oneof(fc.boolean(), anyValue) }).map(withoutUndefined),
  fc.record({ taskId: id, attempt: id, result: fc.jsonValue(), error: fc.string(), retryable: fc.boolean() }),
  fc.record({ taskId: id, attempt: id, result: fc.jsonValue(), extra: fc.jsonValue() }),
  anyValue,
);
/** Held task ids: a few of any value, or lists at and just over the length limit. */
const held = fc.oneof(
  fc.array(id, { maxLength: 4 }),
  fc.array(fc.integer({ min: 1, max: 1e9 }), { maxLength: 4 }),
  fc.constantFrom(POOL_LIMITS.maxConcurrency, POOL_LIMITS.maxConcurrency + 1).map((n) => Array.from({ length: n }, (_, i) => i + 1)),
  fc.integer({ min: 0, max: POOL_LIMITS.maxConcurrency - 1 }).map((bad) => Array.from({ length: POOL_LIMITS.maxConcurrency }, (_, i) => (i === bad ? 0 : i + 1))),
  anyValue,
);
const exchangeBody = fc.oneof(
  fc
    .record({
      attemptId: id,
      results: fc.oneof(fc.array(outcome, { maxLength: 4 }), anyValue),
      held,
      want: fc.oneof(fc.integer({ min: -1, max: POOL_LIMITS.maxClaim + 1 }), anyValue),
      waitMs: fc.oneof(fc.integer({ min: -1, max: 30_001 }), anyValue),
    })
    .map(withoutUndefined),
  fc.record({ attemptId: fc.integer({ min: 1 }), results: fc.array(outcome, { maxLength: 3 }), held: fc.array(fc.integer({ min: 1 }), { maxLength: 3 }), want: fc.nat(1024), waitMs: fc.nat(30_000), more: fc.jsonValue() }),
  // Every field right but `held` missing: the host and the server ship together, so it is required.
  fc.record({ attemptId: fc.integer({ min: 1 }), results: fc.array(outcome, { maxLength: 3 }), want: fc.nat(1024), waitMs: fc.nat(30_000) }),
  anyValue,
);

describe('the exchange body', () => {
  it('is accepted by the hand-written check exactly when the schema accepts it', () => {
    fc.assert(
      fc.property(exchangeBody, (body) => {
        const zod = exchangeRequestSchema.safeParse(body).success;
        let fast: boolean;
        try {
          parseExchangeRequest(body);
          fast = true;
        } catch (e) {
          expect(e).toBeInstanceOf(ValidationError);
          fast = false;
        }
        expect(fast).toBe(zod);
      }),
      { numRuns: 3000 },
    );
  });

  it('names each broken rule', () => {
    expect(() => parseExchangeRequest({ attemptId: 1, results: [{ taskId: 1, attempt: 1 }], held: [], want: 2000, waitMs: 0 })).toThrow(/results\.0.*want/s);
    expect(() => parseExchangeRequest({ attemptId: 1, results: [{ taskId: 1, attempt: 1, error: 'x'.repeat(MAX_ERROR_CHARS + 1), retryable: true }], held: [], want: 0, waitMs: 0 })).toThrow(ValidationError);
    const ok = { attemptId: 3, results: [{ taskId: 1, attempt: 2, result: null }, { taskId: 2, attempt: 1, error: 'boom', retryable: false }], held: [4, 7], want: 5, waitMs: 25_000 };
    expect(parseExchangeRequest(ok)).toEqual(ok);
  });

  it('requires `held`, task ids only, at most maxConcurrency of them, and says which rule it broke', () => {
    const body = { attemptId: 1, results: [], want: 1, waitMs: 0 };
    const issues = (b: unknown) => {
      try {
        parseExchangeRequest(b);
      } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return (e as ValidationError).issues;
      }
      throw new Error('accepted');
    };
    expect(issues(body)).toEqual([{ path: 'held', message: expect.stringMatching(/expected array/) }]);
    expect(issues({ ...body, held: [3, 0] })).toEqual([{ path: 'held.1', message: 'must be a task id (a positive integer)' }]);
    expect(issues({ ...body, held: [7, '8'] })).toEqual([{ path: 'held.1', message: 'must be a task id (a positive integer)' }]);
    expect(issues({ ...body, held: [1.5] })).toEqual([{ path: 'held.0', message: 'must be a task id (a positive integer)' }]);
    const tooMany = Array.from({ length: POOL_LIMITS.maxConcurrency + 1 }, (_, i) => i + 1);
    expect(issues({ ...body, held: tooMany })).toEqual([{ path: 'held', message: `at most 1024 task ids: a replica holds at most its concurrency (maxConcurrency 1024)` }]);
    expect(parseExchangeRequest({ ...body, held: tooMany.slice(1) }).held).toHaveLength(POOL_LIMITS.maxConcurrency);
  });
});

describe('the exchange answer', () => {
  const task = fc.oneof(fc.record({ id, attempt: id, payload: fc.jsonValue({ maxDepth: 2 }) }).map(withoutUndefined), anyValue);
  const answer = fc.oneof(fc.record({ tasks: fc.oneof(fc.array(task, { maxLength: 4 }), anyValue), stop: fc.oneof(fc.boolean(), anyValue) }).map(withoutUndefined), anyValue);

  it('is decoded by the host exactly when the schema accepts it, and says what is wrong otherwise', () => {
    fc.assert(
      fc.property(answer, (a) => {
        const zod = exchangeResponseSchema.safeParse(a);
        const fast = decodeExchangeResponse(a);
        expect(typeof fast !== 'string').toBe(zod.success);
        if (zod.success && typeof fast !== 'string') expect(fast).toEqual(zod.data);
      }),
      { numRuns: 3000 },
    );
    expect(decodeExchangeResponse({ tasks: [{ id: 1, attempt: 0 }], stop: false })).toBe('tasks[0].attempt must be a positive integer');
    expect(decodeExchangeResponse({ tasks: Array.from({ length: POOL_LIMITS.maxClaim + 1 }, (_, i) => ({ id: i + 1, attempt: 1 })), stop: false })).toMatch(/at most 1024/);
  });
});

describe('worker messages', () => {
  const message = fc.oneof(
    fc.record({ type: fc.constantFrom('ready', 'heartbeat', 'result', 'error', 'task', 'nonsense'), id, result: anyValue, error: anyValue, retryable: anyValue }).map(withoutUndefined),
    fc.record({ type: fc.constant('result'), id: fc.integer({ min: 1 }), result: fc.jsonValue() }),
    fc.record({ type: fc.constant('error'), id: fc.integer({ min: 1 }), error: fc.string(), retryable: fc.boolean() }),
    anyValue,
  );

  it('are decoded by hand exactly as the schema reads them', () => {
    fc.assert(
      fc.property(message, (m) => {
        const zod = workerMessageSchema.safeParse(m);
        const fast = decodeWorkerMessage(m);
        expect(typeof fast !== 'string').toBe(zod.success);
        if (zod.success && typeof fast !== 'string') {
          const expected = zod.data.type === 'result' ? { ...zod.data, result: zod.data.result ?? null } : zod.data;
          expect(fast).toEqual(expected);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('say what is wrong', () => {
    expect(decodeWorkerMessage([1])).toBe('a line must be a JSON object');
    expect(decodeWorkerMessage({ type: 'result', id: '7' })).toMatch(/"id": the task's id/);
    expect(decodeWorkerMessage({ type: 'error', id: 7 })).toMatch(/needs "error"/);
    expect(decodeWorkerMessage({ type: 'error', id: 7, error: 'x' })).toEqual({ type: 'error', id: 7, error: 'x', retryable: true });
    expect(decodeWorkerMessage({ id: 7 })).toMatch(/^unknown message type undefined/);
  });
});

describe('host → worker', () => {
  it('a task line is one JSON line the schema accepts', () => {
    const line = encodeTask(12, 3, { text: 'a\nb', n: [1, 2] });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(taskMessageSchema.parse(JSON.parse(line))).toEqual({ type: 'task', id: 12, attempt: 3, payload: { text: 'a\nb', n: [1, 2] } });
  });
});

describe('the end report and the rest', () => {
  it('takes every end reason, and the host has an exit status for each reason it reports', () => {
    expect(REPLICA_END_REASONS).toHaveLength(11);
    for (const reason of REPLICA_END_REASONS) expect(endRequestSchema.safeParse({ attemptId: 1, reason, detail: null }).success).toBe(true);
    expect(endRequestSchema.safeParse({ attemptId: 1, reason: 'bored', detail: null }).success).toBe(false);
    for (const r of ['stopped', 'crashed', 'oom', 'start-timeout', 'task-timeout', 'protocol-error'] as const) expect(typeof HOST_EXIT[r]).toBe('number');
    expect(new Set(Object.values(HOST_EXIT)).size).toBe(Object.keys(HOST_EXIT).length);
  });

  it('replica paths escape the pool name', () => {
    expect(replicaPath('my-pool', 42, 'exchange')).toBe('/v1/pools/my-pool/replicas/42/exchange');
  });
});
