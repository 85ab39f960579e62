import { z } from 'zod';
import { ValidationError, type FieldIssue } from './errors.js';
import { FAKE_GPU_UTILIZATION_ENV, parseUtilizationScript } from './utilization-script.js';

/**
 * The job spec: what a user submits. Parsed once into a `JobSpec` with every
 * default filled in; the store keeps the parsed form, so a job's meaning never
 * depends on defaults that change later.
 */

export const LIMITS = Object.freeze({
  maxGpus: 64,
  maxCpus: 1024,
  maxMemoryMb: 16 * 1024 * 1024,
  maxPriority: 1000,
  maxAttempts: 100,
  maxTimeoutSeconds: 30 * 24 * 3600,
  maxArgs: 4096,
  maxArgBytes: 65536,
  maxEnv: 256,
  maxLabels: 64,
  maxBatch: 5000,
  /** Jobs one job may depend on (`dependsOn`). */
  maxDependencies: 1000,
});

const RESERVED_ENV = /^(CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|GPUQ_.*)$/;
const nameRe = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,199}$/;
const queueRe = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const labelKeyRe = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;

/** A string handed to the operating system or a database: NUL cannot be in an argument, an environment value or a path, nor in a PostgreSQL text. */
const text = () => z.string().refine((v) => !v.includes('\0'), 'must not contain NUL characters');

const labelMap = z
  .record(z.string().regex(labelKeyRe, 'label keys are 1-63 characters of letters, digits, ".", "_", "/", "-"'), text().max(256))
  .refine((m) => Object.keys(m).length <= LIMITS.maxLabels, `at most ${LIMITS.maxLabels} entries`);

export const backoffSchema = z.strictObject({
  /** @default 5 */
  initialSeconds: z.number().gt(0).max(3600).default(5),
  /** @default 300 */
  maxSeconds: z.number().gt(0).max(86_400).default(300),
  /** @default 2 */
  multiplier: z.number().min(1).max(10).default(2),
});

export const jobSpecSchema = z
  .strictObject({
    name: z.string().regex(nameRe, 'must be 1-200 characters: letters, digits and . _ : @ / + -').optional(),
    /** @default "default" */
    queue: z.string().regex(queueRe, 'must be 1-64 lowercase letters, digits, ".", "_" or "-"').default('default'),
    /** @default "exec" */
    type: z.enum(['exec', 'noop']).default('exec'),
    command: z
      .array(text().max(LIMITS.maxArgBytes, `each argument at most ${LIMITS.maxArgBytes} bytes`))
      .min(1, 'must name a program: ["prog", "arg", ...]')
      .max(LIMITS.maxArgs)
      .refine((a) => (a[0] ?? '').length > 0, 'the program (first element) must not be empty')
      .optional(),
    /** A shell command line run by /bin/sh -c; only when asked for explicitly, instead of `command`. */
    shell: text().min(1).max(LIMITS.maxArgBytes).optional(),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment names are letters, digits and "_"').refine((k) => k === FAKE_GPU_UTILIZATION_ENV || !RESERVED_ENV.test(k), 'is set by gpuq for each attempt and cannot be overridden'),
        text().max(LIMITS.maxArgBytes),
      )
      .refine((m) => Object.keys(m).length <= LIMITS.maxEnv, `at most ${LIMITS.maxEnv} entries`)
      .default({}),
    cwd: text().startsWith('/', 'must be an absolute path').max(4096).optional(),
    /** GPUs on one node. @default 0 */
    gpus: z.int().min(0).max(LIMITS.maxGpus).default(0),
    /** CPU cores reserved; 0 reserves none. @default 0 */
    cpus: z.number().min(0).max(LIMITS.maxCpus).default(0),
    /** Host memory reserved in MiB; 0 reserves none. @default 0 */
    memoryMb: z.int().min(0).max(LIMITS.maxMemoryMb).default(0),
    /** Higher runs first; FIFO within a priority. @default 0 */
    priority: z.int().min(-LIMITS.maxPriority).max(LIMITS.maxPriority).default(0),
    /** @default 5 */
    maxAttempts: z.int().min(1).max(LIMITS.maxAttempts).default(5),
    backoff: backoffSchema.default({ initialSeconds: 5, maxSeconds: 300, multiplier: 2 }),
    timeoutSeconds: z.number().gt(0).max(LIMITS.maxTimeoutSeconds).optional(),
    idempotencyKey: text().min(1).max(256).optional(),
    labels: labelMap.default({}),
    nodeSelector: labelMap.default({}),
    /**
     * IDs of jobs this job waits for (core/dependencies.ts): it starts only after every one of them has succeeded,
     * and ends `failed` if one of them ends failed or cancelled. Each must exist when the job is submitted.
     * @default []
     */
    dependsOn: z
      .array(z.int('must be a job ID (a positive integer)').min(1, 'must be a job ID (a positive integer)'))
      .max(LIMITS.maxDependencies, `at most ${LIMITS.maxDependencies} jobs`)
      .default([]),
  })
  .superRefine((s, ctx) => {
    if (s.type === 'exec' && s.command === undefined && s.shell === undefined) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'an exec job needs "command" (an argv array) or "shell" (a command line)' });
    }
    if (s.command !== undefined && s.shell !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['shell'], message: 'give either "command" or "shell", not both' });
    }
    if (s.type === 'noop' && (s.command !== undefined || s.shell !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'a noop job runs no command' });
    }
    const seen = new Set<number>();
    s.dependsOn.forEach((id, i) => {
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: ['dependsOn', i], message: `job ${id} is listed more than once` });
      seen.add(id);
    });
    // Simulated GPUs' scripted load (core/utilization-script.ts): refused at submit when it is not a script.
    const script = s.env[FAKE_GPU_UTILIZATION_ENV];
    if (script !== undefined) {
      const parsed = parseUtilizationScript(script);
      if ('problem' in parsed) ctx.addIssue({ code: 'custom', path: ['env', FAKE_GPU_UTILIZATION_ENV], message: parsed.problem });
    }
    if (s.backoff.maxSeconds < s.backoff.initialSeconds) {
      ctx.addIssue({ code: 'custom', path: ['backoff', 'maxSeconds'], message: 'must be at least backoff.initialSeconds' });
    }
  });

export type JobSpecInput = z.input<typeof jobSpecSchema>;
type ParsedSpec = z.output<typeof jobSpecSchema>;
/** A validated spec with every default filled in. `name` is always set. */
export type JobSpec = Omit<ParsedSpec, 'name'> & { name: string };
export type Backoff = JobSpec['backoff'];

export function zodIssues(error: z.ZodError, prefix: (string | number)[] = []): FieldIssue[] {
  return error.issues.map((i) => ({
    path: [...prefix, ...i.path].map((p) => (p === '' ? '""' : String(p))).join('.'),
    message:
      i.code === 'unrecognized_keys'
        ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`
        : i.code === 'invalid_key' // a record key broke its rule: say which rule
          ? i.issues.map((k) => k.message).join('; ')
          : i.message,
  }));
}

function defaultName(s: ParsedSpec): string {
  if (s.name) return s.name;
  if (s.type === 'noop') return 'noop';
  const prog = s.command?.[0] ?? 'sh';
  const base = prog.split('/').pop() || 'job';
  return nameRe.test(base) ? base : 'job';
}

/** Parses one spec; throws ValidationError naming each field and rule broken. */
export function parseJobSpec(input: unknown, pathPrefix: (string | number)[] = []): JobSpec {
  const r = jobSpecSchema.safeParse(input);
  if (!r.success) throw new ValidationError(zodIssues(r.error, pathPrefix));
  return { ...r.data, name: defaultName(r.data) };
}

/**
 * How many of a node's run slots (its `maxRunning`) an attempt of this type
 * takes while it is live: an exec attempt runs a process tree (1); a noop runs
 * nothing (0), so it never waits for a slot.
 */
export function slotsOf(type: JobSpec['type']): number {
  return type === 'exec' ? 1 : 0;
}

/** The argv that runs the job: `command`, or /bin/sh -c for `shell`. */
export function argvOf(spec: JobSpec): string[] {
  if (spec.shell !== undefined) return ['/bin/sh', '-c', spec.shell];
  return spec.command ?? [];
}
