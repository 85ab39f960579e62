import { POOL_LIMITS } from '../core/pool-limits.js';
import type { ReplicaEndReason } from '../core/pool-spec.js';

/**
 * The pool protocols (ADR 0016), imported by both sides of each:
 *
 * - worker ⇄ replica host: JSON lines over the worker's stdin and stdout (docs/pool-protocol.md).
 *   worker → host: ready, heartbeat, result, error. host → worker: task, shutdown.
 * - replica host ⇄ control plane: three HTTP endpoints per replica attempt, authenticated by the
 *   attempt's pool credential: ready, exchange (results in, tasks out), end.
 *
 * Each message has a zod schema in protocol-schemas.ts (the reference, and what produces field-by-field
 * errors on the control plane) and, where it is on the path of every task or on the host's side, a
 * hand-written check here that accepts exactly the same values (protocol.test.ts holds them together):
 * at tens of thousands of tasks per second the schemas' generality costs more than the rest of the path,
 * and the replica host, started for every replica, loads no schema library (a cold start is its startup).
 */

/** A stdout line of the worker may be at most this many bytes (newline excluded). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** A task error's message is at most this many characters; the host cuts longer ones. */
export const MAX_ERROR_CHARS = 64 * 1024;
/** The longest long-poll of an exchange. */
export const MAX_WAIT_MS = 30_000;

const END_REASONS: Record<ReplicaEndReason, true> = {
  stopped: true,
  idle: true,
  replaced: true,
  evicted: true,
  'memory-pressure': true,
  crashed: true,
  oom: true,
  'start-timeout': true,
  'task-timeout': true,
  'protocol-error': true,
  lost: true,
};
/** Every ReplicaEndReason (core/pool-spec.ts), as a list; the record above fails to compile when the two disagree. */
export const REPLICA_END_REASONS = Object.keys(END_REASONS) as ReplicaEndReason[];

/** The reasons a replica host itself reports; the others are decided by the control plane. */
export type HostEndReason = Extract<ReplicaEndReason, 'stopped' | 'crashed' | 'oom' | 'start-timeout' | 'task-timeout' | 'protocol-error'>;

/**
 * The replica host's exit status, one per way it ends. The end reason goes to the control plane before
 * the host exits; the status says the same for when that report could not be made.
 */
export const HOST_EXIT = Object.freeze({
  /** Stopped when asked (`stop` from an exchange): in-flight tasks answered, worker shut down. */
  stopped: 0,
  /** The worker exited by itself, or could not be started. */
  crashed: 1,
  /** Bad arguments or environment: the host did not start. */
  usage: 2,
  'task-timeout': 3,
  /** The control plane answered REPLICA_GONE: this attempt is no longer the replica's live one. */
  gone: 4,
  oom: 5,
  'protocol-error': 6,
  'start-timeout': 7,
  /** The control plane could not be reached for the retry window, or refused a request (4xx). */
  unreachable: 8,
  /** SIGTERM (eviction, cancel): 128 + 15, as a shell reports it. */
  terminated: 143,
});

// ── worker ⇄ host ─────────────────────────────────────────────────────────

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'heartbeat' }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: string; retryable: boolean };

/** host → worker. */
export type TaskMessage = { type: 'task'; id: number; attempt: number; payload: unknown };
export type HostMessage = TaskMessage | { type: 'shutdown' };

export function isTaskId(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/**
 * Checks a parsed stdout line; returns the message, or a sentence saying what is wrong with it.
 * A `result` without a `result` field answers null; an `error` without `retryable` is retryable.
 */
export function decodeWorkerMessage(v: unknown): WorkerMessage | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'a line must be a JSON object';
  const m = v as Record<string, unknown>;
  switch (m.type) {
    case 'result':
      if (!isTaskId(m.id)) return '"result" needs "id": the task\'s id, a positive integer';
      return { type: 'result', id: m.id, result: m.result === undefined ? null : m.result };
    case 'error': {
      if (!isTaskId(m.id)) return '"error" needs "id": the task\'s id, a positive integer';
      if (typeof m.error !== 'string') return '"error" needs "error": a string saying what went wrong';
      if (m.retryable !== undefined && typeof m.retryable !== 'boolean') return '"retryable" must be true or false';
      return { type: 'error', id: m.id, error: m.error, retryable: m.retryable !== false };
    }
    case 'heartbeat':
      return { type: 'heartbeat' };
    case 'ready':
      return { type: 'ready' };
    default:
      return `unknown message type ${JSON.stringify(m.type) ?? 'undefined'}: a worker sends "ready", "heartbeat", "result" or "error"`;
  }
}

/** One task as the line the worker reads (newline included). */
export function encodeTask(id: number, attemptNumber: number, payload: unknown): string {
  return `{"type":"task","id":${id},"attempt":${attemptNumber},"payload":${JSON.stringify(payload) ?? 'null'}}\n`;
}

export const SHUTDOWN_LINE = '{"type":"shutdown"}\n';

// ── replica host ⇄ control plane ──────────────────────────────────────────

/** The path of a replica endpoint, under a control-plane base URL. */
export function replicaPath(pool: string, jobId: number, endpoint: 'ready' | 'exchange' | 'end'): string {
  return `/v1/pools/${encodeURIComponent(pool)}/replicas/${jobId}/${endpoint}`;
}

/** A task's outcome as the host reports it: the worker's result, or its error. */
export type TaskOutcome = { taskId: number; attempt: number; result: unknown } | { taskId: number; attempt: number; error: string; retryable: boolean };

/**
 * POST …/exchange: results since the last exchange, and up to `want` tasks (waiting up to `waitMs` for the
 * first when there are none). → 200 ExchangeResponse | 410 REPLICA_GONE. Results are resent after a failure:
 * the store accepts each (task, attempt) once.
 *
 * Lost answers: `held` lists every task the host holds (given to its worker and not answered, or answered with
 * the result still buffered and not in this request). A task running under this replica attempt that is neither
 * in `held` nor answered here was claimed by an earlier exchange whose answer never reached the host (a server
 * killed while answering, a dropped connection): the server hands it back first, at the same attempt number,
 * within `want`, so it runs now instead of after its task timeout.
 */
export interface ExchangeRequest {
  attemptId: number;
  results: TaskOutcome[];
  /** Task ids, at most POOL_LIMITS.maxConcurrency: a host never holds more than its concurrency. */
  held: number[];
  want: number;
  waitMs: number;
}

export interface ClaimedTaskWire {
  id: number;
  attempt: number;
  payload: unknown;
}
/** `stop`: take no more tasks; answer those held, shut the worker down and exit. */
export interface ExchangeResponse {
  tasks: ClaimedTaskWire[];
  stop: boolean;
}

export function isAttempt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

/** Checks the control plane's answer to an exchange; returns it, or a sentence saying what is wrong with it. */
export function decodeExchangeResponse(v: unknown): ExchangeResponse | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'the answer is not a JSON object';
  const b = v as Record<string, unknown>;
  if (typeof b.stop !== 'boolean') return '"stop" must be true or false';
  if (!Array.isArray(b.tasks)) return '"tasks" must be an array';
  if (b.tasks.length > POOL_LIMITS.maxClaim) return `"tasks" holds ${b.tasks.length} tasks; at most ${POOL_LIMITS.maxClaim}`;
  for (let i = 0; i < b.tasks.length; i++) {
    const t = b.tasks[i] as Record<string, unknown> | null;
    if (t === null || typeof t !== 'object' || Array.isArray(t)) return `tasks[${i}] is not an object`;
    if (!isTaskId(t.id)) return `tasks[${i}].id must be a positive integer`;
    if (!isAttempt(t.attempt)) return `tasks[${i}].attempt must be a positive integer`;
  }
  return { tasks: b.tasks as ClaimedTaskWire[], stop: b.stop };
}
