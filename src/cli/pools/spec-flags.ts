import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import type { MemoryPolicy, PoolSpecInput } from '../../core/pool-spec.js';
import type { PoolPatch } from '../../sdk/pools-client.js';
import { keyValues, UsageError } from '../output.js';

/**
 * The pool spec as flags, shared by `gpuq pool create` and `gpuq pool update`. Each flag sets one spec field and
 * wins over the same field of the `-f` file; `--env` and `--node-selector` set the whole map (as the field does in
 * a spec), the memory-policy flags one field each of `memoryPolicy`.
 */
export interface PoolFlagValues {
  gpus?: number;
  cpus?: number;
  memory?: number;
  minReplicas?: number;
  maxReplicas?: number;
  targetBacklog?: number;
  idleTimeout?: number;
  taskTimeout?: number;
  startTimeout?: number;
  maxAttempts?: number;
  concurrency?: number;
  grace?: number;
  env?: string[];
  cwd?: string;
  nodeSelector?: string[];
  killOnOom?: boolean;
  gpuMemoryLimit?: number;
  evictionPriority?: number;
  file?: string;
}

/** A number in plain decimal notation; anything else is refused by commander as bad input (exit 2). */
export function parseNumber(v: string): number {
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(v.trim())) throw new InvalidArgumentError('must be a number');
  return Number(v);
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Flag → spec field, for the flags that map one to one. */
const SIMPLE_FIELDS: [keyof PoolFlagValues, keyof PoolSpecInput, string, string][] = [
  ['gpus', 'gpus', '--gpus <n>', 'GPUs per replica, on one node (default 0)'],
  ['cpus', 'cpus', '--cpus <n>', 'CPU cores reserved per replica (default 0)'],
  ['memory', 'memoryMb', '--memory <mb>', 'host memory reserved per replica, MiB (default 0)'],
  ['minReplicas', 'minReplicas', '--min-replicas <n>', 'replicas kept even when idle; 0 scales to zero (default 0)'],
  ['maxReplicas', 'maxReplicas', '--max-replicas <n>', 'at most this many replicas (default 1)'],
  ['targetBacklog', 'targetBacklog', '--target-backlog <n>', 'queued tasks per ready replica above which one is added (default 10)'],
  ['idleTimeout', 'idleTimeoutSeconds', '--idle-timeout <seconds>', 'stop a replica that had no task this long, down to --min-replicas (default 300)'],
  ['taskTimeout', 'taskTimeoutSeconds', '--task-timeout <seconds>', 'a task running longer recycles its replica and is redelivered (default 300)'],
  ['startTimeout', 'startTimeoutSeconds', '--start-timeout <seconds>', 'recycle a replica whose worker is not ready this long after it started (default 600)'],
  ['maxAttempts', 'maxAttempts', '--max-attempts <n>', 'deliveries of a task before it fails into the pool\'s DLQ (default 3)'],
  ['concurrency', 'concurrency', '--concurrency <n>', 'tasks a worker holds at once (default 1)'],
  ['grace', 'graceSeconds', '--grace <seconds>', 'time to finish in-flight tasks when stopped, and between SIGTERM and SIGKILL when evicted (default 10)'],
];

const MEMORY_FIELDS: [keyof PoolFlagValues, keyof MemoryPolicy][] = [
  ['killOnOom', 'killOnOom'],
  ['gpuMemoryLimit', 'gpuMemoryLimitMb'],
  ['evictionPriority', 'evictionPriority'],
];

/** Declares the spec flags on `create` or `update`. */
export function specOptions(cmd: Command, fileHelp: string): Command {
  for (const [, , flags, help] of SIMPLE_FIELDS) cmd.option(flags, help, parseNumber);
  return cmd
    .option('-e, --env <KEY=VALUE>', 'environment variable of the worker (repeatable; replaces the whole env)', collect)
    .option('--cwd <dir>', 'working directory of the worker')
    .option('--node-selector <k=v>', 'run replicas only on nodes with this label (repeatable; replaces the whole selector)', collect)
    .option('--kill-on-oom', 'recycle a replica that ran out of memory (the default)')
    .option('--no-kill-on-oom', 'only count and show an OOM; leave a replica that is still alive running')
    .option('--gpu-memory-limit <mb>', 'GPU memory per GPU (MiB) at which a replica counts as out of memory', parseNumber)
    .option('--eviction-priority <n>', 'under memory pressure, lower priorities are evicted first (-1000..1000, default 0)', parseNumber)
    .option('-f, --file <path>', fileHelp);
}

/** The spec fields the flags set (the memory-policy ones apart: they merge into a memoryPolicy). */
export function flagFields(o: PoolFlagValues, baseDir: string): { fields: Record<string, unknown>; memoryPolicy: Partial<MemoryPolicy> } {
  const fields: Record<string, unknown> = {};
  for (const [from, to] of SIMPLE_FIELDS) if (o[from] !== undefined) fields[to] = o[from];
  if (o.env !== undefined) fields.env = keyValues('--env', o.env);
  if (o.nodeSelector !== undefined) fields.nodeSelector = keyValues('--node-selector', o.nodeSelector);
  if (o.cwd !== undefined) fields.cwd = path.resolve(baseDir, o.cwd);
  const memoryPolicy: Record<string, unknown> = {};
  for (const [from, to] of MEMORY_FIELDS) if (o[from] !== undefined) memoryPolicy[to] = o[from];
  return { fields, memoryPolicy: memoryPolicy as Partial<MemoryPolicy> };
}

/** A spec or patch file's content: a JSON object. */
export function parseSpecFile(source: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new UsageError(`${source}: must hold one JSON object of pool fields, e.g. {"name": "embed", "command": ["python", "worker.py"], "gpus": 1}`);
  return parsed as Record<string, unknown>;
}

/**
 * Splits the operands commander gives (the `--` removed) into those before `--` and the worker command after it,
 * from the raw argv, where the `--` still is. Without `--`, the first operand is the name and the rest the command.
 */
export function splitAtDash(operands: string[], argv: readonly string[]): { before: string[]; command: string[]; dash: boolean } {
  const i = argv.indexOf('--');
  if (i < 0) return { before: operands.slice(0, 1), command: operands.slice(1), dash: false };
  const after = Math.min(argv.length - i - 1, operands.length);
  return { before: operands.slice(0, operands.length - after), command: operands.slice(operands.length - after), dash: true };
}

/** `gpuq pool create`'s spec: the file's fields, then NAME, the command after --, and the flags over them. */
export function createSpec(input: { file?: Record<string, unknown>; name?: string; command: string[]; flags: PoolFlagValues; cwd: string }): PoolSpecInput {
  const spec: Record<string, unknown> = { ...(input.file ?? {}) };
  if (input.name !== undefined) spec.name = input.name;
  if (spec.name === undefined) throw new UsageError('give the pool NAME (or "name" in the -f spec file)');
  if (input.command.length > 0) spec.command = input.command;
  if (spec.command === undefined) throw new UsageError('give the worker command after --, e.g. gpuq pool create embed --gpus 1 -- python worker.py (or "command" in the -f spec file)');
  const { fields, memoryPolicy } = flagFields(input.flags, input.cwd);
  Object.assign(spec, fields);
  if (Object.keys(memoryPolicy).length > 0) spec.memoryPolicy = { ...asObject(spec.memoryPolicy), ...memoryPolicy };
  // As `gpuq submit` does: a worker named by a relative path runs where the pool was created.
  if (spec.cwd === undefined) spec.cwd = input.cwd;
  return spec as PoolSpecInput;
}

/**
 * `gpuq pool update`'s patch. The API replaces each field given whole, so a memory-policy flag is merged into the
 * file's memoryPolicy, or else into the pool's current one (`current`, which the caller reads when `needsCurrentPolicy`).
 */
export function updatePatch(input: { file?: Record<string, unknown>; command: string[]; flags: PoolFlagValues; cwd: string; current?: MemoryPolicy }): PoolPatch {
  const patch: Record<string, unknown> = { ...(input.file ?? {}) };
  if (input.command.length > 0) patch.command = input.command;
  const { fields, memoryPolicy } = flagFields(input.flags, input.cwd);
  Object.assign(patch, fields);
  if (Object.keys(memoryPolicy).length > 0) patch.memoryPolicy = { ...asObject(patch.memoryPolicy ?? input.current), ...memoryPolicy };
  if (Object.keys(patch).length === 0) throw new UsageError('nothing to change: give flags (see --help), a new worker command after --, or -f patch.json');
  return patch as PoolPatch;
}

/** Whether `updatePatch` needs the pool's current memory policy: a memory flag, and no memoryPolicy in the file. */
export function needsCurrentPolicy(flags: PoolFlagValues, file: Record<string, unknown> | undefined): boolean {
  return MEMORY_FIELDS.some(([from]) => flags[from] !== undefined) && file?.memoryPolicy === undefined;
}

function asObject(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
