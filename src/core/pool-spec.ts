import { z } from 'zod';
import { ValidationError } from './errors.js';
import { backoffSchema, LIMITS, zodIssues } from './job-spec.js';
import { POOL_LIMITS } from './pool-limits.js';

/**
 * A warm worker pool (ADR 0016): long-lived replicas of one worker command, each holding its GPUs
 * and a loaded model, fed small tasks from the pool's durable queue.
 *
 * The spec is what an operator gives (`gpuq pool create`, `POST /v1/pools`); it is parsed once
 * into `PoolSpec` with every default filled in, and the store keeps the parsed form.
 */

export { POOL_LIMITS };

const poolNameRe = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const POOL_NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit';
const RESERVED_ENV = /^(CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|GPUQ_.*)$/;
const labelKeyRe = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
const text = () => z.string().refine((v) => !v.includes('\0'), 'must not contain NUL characters');

export const poolNameSchema = z.string().regex(poolNameRe, POOL_NAME_RULE).refine((n) => n !== 'stop-all', '"stop-all" is an operation (POST /v1/pools/stop-all), not a pool name');

export const memoryPolicySchema = z.strictObject({
  /**
   * Kill a replica that ran out of memory (it exited by the OOM killer, printed a CUDA out-of-memory
   * error, or its GPU memory reached `gpuMemoryLimitMb`) and start a fresh one; its tasks are redelivered.
   * false: only count and show the OOM, and leave a replica that is still alive running. @default true
   */
  killOnOom: z.boolean().default(true),
  /** GPU memory per GPU (MiB) at which a replica counts as out of memory, from its GPU telemetry. Unset: no such limit. */
  gpuMemoryLimitMb: z.int().min(1).max(16 * 1024 * 1024).optional(),
  /**
   * Under memory pressure on a node, pools with the lowest priority are evicted first, and among equal
   * priorities the largest pool first (most GPUs held, then most host memory). @default 0
   */
  evictionPriority: z.int().min(-1000).max(1000).default(0),
});

const poolSpecObject = z.strictObject({
  name: poolNameSchema,
  /** The worker: an argv array. It speaks the pool protocol (docs/pool-protocol.md) on its stdin and stdout. */
  command: z
    .array(text().max(LIMITS.maxArgBytes, `each argument at most ${LIMITS.maxArgBytes} bytes`))
    .min(1, 'must name a program: ["prog", "arg", ...]')
    .max(LIMITS.maxArgs)
    .refine((a) => (a[0] ?? '').length > 0, 'the program (first element) must not be empty'),
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and "_"').refine((k) => !RESERVED_ENV.test(k), 'is set by gpuq for each replica and cannot be overridden'),
      text().max(LIMITS.maxArgBytes),
    )
    .refine((m) => Object.keys(m).length <= LIMITS.maxEnv, `at most ${LIMITS.maxEnv} entries`)
    .default({}),
  cwd: text().startsWith('/', 'must be an absolute path').max(4096).optional(),
  /** GPUs per replica, on one node. @default 0 */
  gpus: z.int().min(0).max(LIMITS.maxGpus).default(0),
  /** CPU cores reserved per replica. @default 0 */
  cpus: z.number().min(0).max(LIMITS.maxCpus).default(0),
  /** Host memory reserved per replica, MiB. @default 0 */
  memoryMb: z.int().min(0).max(LIMITS.maxMemoryMb).default(0),
  nodeSelector: z
    .record(z.string().regex(labelKeyRe, 'label keys are 1-63 characters of letters, digits, ".", "_", "/", "-"'), text().max(256))
    .refine((m) => Object.keys(m).length <= LIMITS.maxLabels, `at most ${LIMITS.maxLabels} entries`)
    .default({}),
  /** Replicas kept even when idle. 0 lets the pool scale to zero. @default 0 */
  minReplicas: z.int().min(0).max(POOL_LIMITS.maxReplicas).default(0),
  /** @default 1 */
  maxReplicas: z.int().min(1).max(POOL_LIMITS.maxReplicas).default(1),
  /** Queued tasks per ready replica above which a replica is added. @default 10 */
  targetBacklog: z.int().min(1).max(1_000_000).default(10),
  /** A replica with no task for this long is stopped (down to minReplicas). @default 300 */
  idleTimeoutSeconds: z.number().gt(0).max(7 * 86_400).default(300),
  /** A task running longer is abandoned: its replica is recycled and the task redelivered. @default 300 */
  taskTimeoutSeconds: z.number().gt(0).max(86_400).default(300),
  /** A replica that has not said `ready` this long after it started is recycled. @default 600 */
  startTimeoutSeconds: z.number().gt(0).max(86_400).default(600),
  /** Deliveries of a task before it goes to the pool's DLQ. @default 3 */
  maxAttempts: z.int().min(1).max(LIMITS.maxAttempts).default(3),
  /** Backoff before a task is delivered again after a retryable error, and before a crashed replica is replaced. */
  backoff: backoffSchema.default({ initialSeconds: 1, maxSeconds: 60, multiplier: 2 }),
  /** Tasks a replica's worker holds at once. @default 1 */
  concurrency: z.int().min(1).max(POOL_LIMITS.maxConcurrency).default(1),
  /** Seconds a replica gets between SIGTERM and SIGKILL when evicted, and to finish in-flight tasks when stopped. @default 10 */
  graceSeconds: z.number().min(0).max(3600).default(10),
  memoryPolicy: memoryPolicySchema.default({ killOnOom: true, evictionPriority: 0 }),
});

export const poolSpecSchema = poolSpecObject.superRefine((s, ctx) => {
  if (s.maxReplicas < s.minReplicas) ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: 'must be at least minReplicas' });
  if (s.backoff.maxSeconds < s.backoff.initialSeconds) ctx.addIssue({ code: 'custom', path: ['backoff', 'maxSeconds'], message: 'must be at least backoff.initialSeconds' });
});

export type PoolSpecInput = z.input<typeof poolSpecSchema>;
export type PoolSpec = z.output<typeof poolSpecSchema>;
export type MemoryPolicy = PoolSpec['memoryPolicy'];

/** Parses a pool spec; throws ValidationError naming each field and rule broken. */
export function parsePoolSpec(input: unknown): PoolSpec {
  const r = poolSpecSchema.safeParse(input);
  if (!r.success) throw new ValidationError(zodIssues(r.error));
  return r.data;
}

/** An update: any field but the name; fields left out keep their value. */
export function mergePoolUpdate(current: PoolSpec, update: unknown): PoolSpec {
  if (update === null || typeof update !== 'object' || Array.isArray(update)) throw new ValidationError([{ path: '', message: 'body must be an object of the pool fields to change' }]);
  if ('name' in update && (update as { name: unknown }).name !== current.name) throw new ValidationError([{ path: 'name', message: 'a pool cannot be renamed' }]);
  return parsePoolSpec({ ...current, ...update, name: current.name });
}

/**
 * Pool states: `active` (replicas are kept and scaled, tasks delivered) ─stop→ `stopped` (no replica
 * started; running ones finish their in-flight tasks and exit) ─start→ `active`. Tasks submitted to a
 * stopped pool are refused (POOL_STOPPED); queued ones wait for the pool to start again.
 */
export type PoolState = 'active' | 'stopped';

export interface Pool {
  name: string;
  spec: PoolSpec;
  state: PoolState;
  /** Bumped by each update: replicas of an older generation are replaced (rolling). */
  generation: number;
  createdAt: number;
  updatedAt: number;
}

/**
 * A replica is a job (labels `gpuq.pool`) that runs the replica host (src/pools/) around the worker:
 *   pending (queued, not placed) → starting (placed, worker loading) → ready (worker said ready)
 *   → stopping (asked to stop: finishes in-flight tasks) → ended
 * and ended from any state when its job ends (exit, crash, eviction, lost node).
 */
export type ReplicaState = 'pending' | 'starting' | 'ready' | 'stopping' | 'ended';
export const REPLICA_STATES: readonly ReplicaState[] = ['pending', 'starting', 'ready', 'stopping', 'ended'];

/**
 * Why a replica ended (what the metrics count and `gpuq pool show` shows). `evicted`: by an operator;
 * `memory-pressure`: by the pool controller, its node short of host memory (core/pool-eviction.ts).
 */
export type ReplicaEndReason = 'stopped' | 'idle' | 'replaced' | 'evicted' | 'memory-pressure' | 'crashed' | 'oom' | 'start-timeout' | 'task-timeout' | 'protocol-error' | 'lost';

export interface PoolReplica {
  /** The replica's job id. */
  jobId: number;
  pool: string;
  generation: number;
  state: ReplicaState;
  nodeId: string | null;
  devices: number[];
  /** The live attempt running it, if any. */
  attemptId: number | null;
  createdAt: number;
  startedAt: number | null;
  readyAt: number | null;
  endedAt: number | null;
  endReason: ReplicaEndReason | null;
  /** The end's detail (exit code, the OOM line, …). */
  endDetail: string | null;
  stopRequested: boolean;
  tasksDone: number;
  /** Last claim or result; the idle timeout counts from here (or from readyAt). */
  lastActiveAt: number | null;
}

/** Task states: queued → running → succeeded | failed (DLQ) | cancelled; running → queued on a redelivery or a retryable error. */
export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

/** One delivery that did not end in a result: the replica died, was evicted, the task timed out, or the worker answered a retryable error. */
export interface TaskRedelivery {
  attempt: number;
  replicaJobId: number | null;
  reason: string;
  at: number;
}

export interface PoolTask {
  id: number;
  pool: string;
  state: TaskState;
  idempotencyKey: string | null;
  payload: unknown;
  /** The worker's JSON result, once succeeded. */
  result: unknown;
  /** The worker's error (or why delivery gave up), once failed. */
  error: string | null;
  /** Deliveries so far. */
  attempts: number;
  /** Fails for good when `attempts` reaches this; a DLQ replay raises it by spec.maxAttempts. */
  attemptLimit: number;
  inDlq: boolean;
  notBefore: number;
  /** The replica (job id) of the current or last delivery. */
  replicaJobId: number | null;
  /** Submitted when the pool had no ready replica: its result measures a cold start. */
  cold: boolean;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  history: TaskRedelivery[];
}

/** A task as submitted: a JSON payload and an optional idempotency key (unique within the pool). */
export interface TaskInput {
  payload: unknown;
  idempotencyKey?: string;
}

const taskInputSchema = z.strictObject({
  payload: z.unknown().optional(),
  idempotencyKey: text().min(1).max(POOL_LIMITS.maxIdempotencyKeyBytes).optional(),
});

/**
 * Parses submitted tasks (each `{payload, idempotencyKey?}`): a payload must be present, be JSON and at most
 * maxPayloadBytes once serialized. Returns the tasks with each payload's JSON text.
 */
export function parseTaskInputs(input: unknown, path = 'tasks'): { payloadJson: string; idempotencyKey?: string }[] {
  if (!Array.isArray(input)) throw new ValidationError([{ path, message: 'must be an array of tasks: [{"payload": ...}, ...]' }]);
  if (input.length === 0) throw new ValidationError([{ path, message: 'must hold at least one task' }]);
  if (input.length > POOL_LIMITS.maxBatch) throw new ValidationError([{ path, message: `at most ${POOL_LIMITS.maxBatch} tasks per submit` }]);
  const issues: { path: string; message: string }[] = [];
  const out = input.map((t, i) => {
    const r = taskInputSchema.safeParse(t);
    if (!r.success) {
      issues.push(...zodIssues(r.error, [path, i]));
      return null;
    }
    if (!('payload' in (t as object)) || r.data.payload === undefined) {
      issues.push({ path: `${path}.${i}.payload`, message: 'is required (any JSON value)' });
      return null;
    }
    const payloadJson = JSON.stringify(r.data.payload);
    const bytes = utf8Length(payloadJson);
    if (bytes > POOL_LIMITS.maxPayloadBytes) {
      issues.push({ path: `${path}.${i}.payload`, message: `is ${bytes} bytes of JSON; at most ${POOL_LIMITS.maxPayloadBytes}` });
      return null;
    }
    return { payloadJson, ...(r.data.idempotencyKey !== undefined ? { idempotencyKey: r.data.idempotencyKey } : {}) };
  });
  if (issues.length > 0) throw new ValidationError(issues);
  return out as { payloadJson: string; idempotencyKey?: string }[];
}

const encoder = new TextEncoder();
/** UTF-8 length of a string. */
export function utf8Length(s: string): number {
  return encoder.encode(s).length;
}
