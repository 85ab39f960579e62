import { POOL_LIMITS, TASK_STATES, type TaskInput, type TaskState } from '../../core/pool-spec.js';
import { UsageError } from '../output.js';

/** The most a single request asks the server to hold a wait open; a longer wait is several of them. */
export const WAIT_CHUNK_SECONDS = 60;

/**
 * `--wait [SECONDS]`: commander gives true for a bare `--wait`, the text after it otherwise, undefined without it.
 * Returns the seconds to wait (Infinity: until the tasks end), or undefined for no wait.
 */
export function waitSeconds(v: string | boolean | undefined): number | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return Infinity;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`--wait takes a number of seconds, or nothing to wait until the task ends; got "${v}" (give the pool NAME and task ID before --wait)`);
  return Number(v);
}

/**
 * Tasks from a file: one JSON value per line, each a payload; with `objects`, each a task object
 * `{"payload": …, "idempotencyKey": "…"}`. Blank lines are skipped; a bad line is named by its number.
 */
export function parseTaskLines(source: string, text: string, objects: boolean): TaskInput[] {
  const tasks: TaskInput[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new UsageError(`${source}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (!objects) {
      tasks.push({ payload: value });
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !('payload' in value)) {
      throw new UsageError(`${source}:${i + 1}: with --objects each line is {"payload": ..., "idempotencyKey"?: "..."}`);
    }
    const { payload, idempotencyKey, ...rest } = value as { payload: unknown; idempotencyKey?: unknown };
    const extra = Object.keys(rest);
    if (extra.length > 0) throw new UsageError(`${source}:${i + 1}: unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `"${k}"`).join(', ')}; a task object has "payload" and "idempotencyKey"`);
    if (idempotencyKey !== undefined && typeof idempotencyKey !== 'string') throw new UsageError(`${source}:${i + 1}: "idempotencyKey" must be a string`);
    tasks.push(idempotencyKey === undefined ? { payload } : { payload, idempotencyKey });
  }
  if (tasks.length === 0) throw new UsageError(`${source}: holds no task (one JSON payload per line)`);
  return tasks;
}

/** `--payload JSON`. */
export function parsePayload(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--payload must be JSON, e.g. --payload '{"x": 3}' (${(e as Error).message})`);
  }
}

/** Submits larger than one request may hold are sent in batches of this many, in order. */
export function batches<T>(items: T[], size: number = POOL_LIMITS.maxBatch): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function parseTaskIds(args: string[]): number[] {
  return args.map((a) => {
    if (!/^[1-9][0-9]{0,14}$/.test(a)) throw new UsageError(`"${a}" is not a task ID (a positive integer)`);
    return Number(a);
  });
}

/** `--state queued,running`. */
export function parseTaskStates(v: string): TaskState[] {
  const states = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = states.filter((s) => !(TASK_STATES as readonly string[]).includes(s));
  if (states.length === 0 || bad.length > 0) throw new UsageError(`--state takes task states, comma-separated: ${TASK_STATES.join(', ')}${bad.length ? `; not ${bad.join(', ')}` : ''}`);
  return states as TaskState[];
}

export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled']);
