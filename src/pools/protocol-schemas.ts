import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { zodIssues } from '../core/job-spec.js';
import { POOL_LIMITS, type ReplicaEndReason } from '../core/pool-spec.js';
import { isAttempt, isTaskId, MAX_ERROR_CHARS, MAX_WAIT_MS, REPLICA_END_REASONS, type ExchangeRequest } from './protocol.js';

/**
 * The zod schemas of the pool protocols (protocol.ts has the messages, their types and the hand-written checks
 * on the hot path): the reference each check is tested against, and the control plane's parsers of the replica
 * routes, which name every field that is wrong.
 */

const taskId = z.int().min(1);
const attempt = z.int().min(1);

/** worker → host. Unknown fields are ignored (room to grow); an unknown `type` is a protocol error. */
export const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('heartbeat') }),
  // A result without `result` answers null.
  z.object({ type: z.literal('result'), id: taskId, result: z.unknown().optional() }),
  z.object({ type: z.literal('error'), id: taskId, error: z.string(), retryable: z.boolean().default(true) }),
]);

/** host → worker. */
export const taskMessageSchema = z.object({ type: z.literal('task'), id: taskId, attempt, payload: z.unknown() });

// ── replica host ⇄ control plane ──────────────────────────────────────────

/** `:name` and `:job` of the replica routes. */
export const replicaParamsSchema = z.strictObject({
  name: z.string().min(1).max(63),
  job: z.string().regex(/^[1-9][0-9]{0,14}$/, 'must be a replica job ID (a positive integer)').transform(Number),
});

/** POST …/ready: the worker said ready. → 200 `{ok: true}` | 410 REPLICA_GONE. */
export const readyRequestSchema = z.strictObject({ attemptId: z.int().min(1) });

// zod requires the key of an unknown() (JSON has no undefined): a result of null is sent as null.
const resultOutcome = z.strictObject({ taskId, attempt, result: z.unknown() });
const errorOutcome = z.strictObject({ taskId, attempt, error: z.string().max(MAX_ERROR_CHARS), retryable: z.boolean() });
/** A task's outcome as the host reports it (protocol.ts TaskOutcome). */
export const taskOutcomeSchema = z.union([resultOutcome, errorOutcome]);

/** The ids of the tasks a host holds (protocol.ts ExchangeRequest `held`): never more than its concurrency. */
const heldSchema = z
  .array(z.int({ error: 'must be a task id (a positive integer)' }).min(1, { error: 'must be a task id (a positive integer)' }))
  .max(POOL_LIMITS.maxConcurrency, `at most ${POOL_LIMITS.maxConcurrency} task ids: a replica holds at most its concurrency (maxConcurrency ${POOL_LIMITS.maxConcurrency})`);

/** POST …/exchange (protocol.ts ExchangeRequest). */
export const exchangeRequestSchema = z.strictObject({
  attemptId: z.int().min(1),
  results: z.array(taskOutcomeSchema).max(POOL_LIMITS.maxClaim),
  held: heldSchema,
  want: z.int().min(0).max(POOL_LIMITS.maxClaim),
  waitMs: z.int().min(0).max(MAX_WAIT_MS),
});

/** The answer to an exchange (protocol.ts ExchangeResponse; the host checks it with decodeExchangeResponse). */
export const exchangeResponseSchema = z.object({
  tasks: z.array(z.object({ id: taskId, attempt, payload: z.unknown() })).max(POOL_LIMITS.maxClaim),
  stop: z.boolean(),
});

/** POST …/end: why the host is about to exit. → 200 `{ok: true}` (the first reason recorded wins). */
export const endRequestSchema = z.strictObject({
  attemptId: z.int().min(1),
  reason: z.enum(REPLICA_END_REASONS as [ReplicaEndReason, ...ReplicaEndReason[]]),
  detail: z.string().max(MAX_ERROR_CHARS).nullable(),
});


function isOutcome(o: unknown): boolean {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return false;
  let n = 0;
  let hasResult = false;
  let hasError = false;
  let hasRetryable = false;
  for (const k in o) {
    n++;
    if (k === 'result') hasResult = true;
    else if (k === 'error') hasError = true;
    else if (k === 'retryable') hasRetryable = true;
    else if (k !== 'taskId' && k !== 'attempt') return false;
  }
  const r = o as Record<string, unknown>;
  if (!isTaskId(r.taskId) || !isAttempt(r.attempt)) return false;
  if (hasResult) return n === 3;
  return hasError && hasRetryable && n === 4 && typeof r.error === 'string' && r.error.length <= MAX_ERROR_CHARS && typeof r.retryable === 'boolean';
}

/**
 * Parses an exchange body: the hand-written check first (every field, every result), and the schema only to
 * say what is wrong when that check fails. Throws ValidationError.
 */
export function parseExchangeRequest(body: unknown): ExchangeRequest {
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    const results = b.results;
    const held = b.held;
    let keys = 0;
    for (const k in b) {
      if (k !== 'attemptId' && k !== 'results' && k !== 'held' && k !== 'want' && k !== 'waitMs') {
        keys = -1;
        break;
      }
      keys++;
    }
    if (
      keys === 5 &&
      isAttempt(b.attemptId) &&
      Array.isArray(results) &&
      results.length <= POOL_LIMITS.maxClaim &&
      Array.isArray(held) &&
      held.length <= POOL_LIMITS.maxConcurrency &&
      held.every(isTaskId) &&
      Number.isSafeInteger(b.want) &&
      (b.want as number) >= 0 &&
      (b.want as number) <= POOL_LIMITS.maxClaim &&
      Number.isSafeInteger(b.waitMs) &&
      (b.waitMs as number) >= 0 &&
      (b.waitMs as number) <= MAX_WAIT_MS &&
      results.every(isOutcome)
    ) {
      return b as unknown as ExchangeRequest;
    }
  }
  const r = exchangeRequestSchema.safeParse(body);
  if (r.success) return r.data as ExchangeRequest;
  throw new ValidationError(zodIssues(r.error));
}
