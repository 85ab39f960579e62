import { z } from 'zod';
import { ValidationError, type FieldIssue } from './errors.js';
import { jobSpecSchema, zodIssues, type JobSpec } from './job-spec.js';

/**
 * A pipeline (ADR 0018): named steps run one after the other as ordinary jobs linked by `dependsOn`, the files
 * passed between them through a run directory, and the last step's files published to an output directory.
 * Parsed once, with every default filled in; the store keeps the parsed form.
 *
 * A step is a job template (`job`: every field of a job spec but `dependsOn` and `idempotencyKey`, which gpuq sets
 * for each run) or a task for a warm worker pool (`pool`: the pool's name and optional `params` passed to the
 * worker; ADR 0016). `fanOut: true` runs the step once per input file of the run (a lane per input); otherwise
 * once for the run, over everything the step before it wrote.
 */

export const PIPELINE_LIMITS = Object.freeze({
  maxSteps: 32,
  /** Input files of one run: a fan-out step runs this many jobs at most. */
  maxInputs: 1000,
});

const nameRe = /^[a-z0-9][a-z0-9-]{0,62}$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit';
const absolutePath = () =>
  z
    .string()
    .startsWith('/', 'must be an absolute path')
    .max(4096)
    .refine((p) => !p.includes('\0'), 'must not contain NUL characters');

/** A step's job template: a job spec (core/job-spec.ts); dependsOn and idempotencyKey are refused by parsePipelineSpec. */
const stepJob = jobSpecSchema;

/** A step run as a task of a warm worker pool: the task's payload says where to read and write (core/pipeline-run.ts). */
const stepPool = z.strictObject({
  name: z.string().regex(nameRe, NAME_RULE),
  /** Passed to the worker as the payload's `params`, as given. */
  params: z.record(z.string(), z.unknown()).optional(),
});

const stepSchema = z
  .strictObject({
    name: z.string().regex(nameRe, NAME_RULE),
    /** The job each run of the step submits (a job spec without dependsOn and idempotencyKey). */
    job: stepJob.optional(),
    /** Or the pool whose worker runs the step, as a task. */
    pool: stepPool.optional(),
    /** Once per input file of the run (lanes), instead of once for the run. @default false */
    fanOut: z.boolean().default(false),
  })
  .superRefine((s, ctx) => {
    if ((s.job === undefined) === (s.pool === undefined)) ctx.addIssue({ code: 'custom', path: ['job'], message: 'a step has either "job" (a job template) or "pool" (a task for a worker pool), not both or neither' });
  });

const pipelineSchema = z.strictObject({
  name: z.string().regex(nameRe, NAME_RULE),
  description: z.string().max(1000).optional(),
  steps: z.array(stepSchema).min(1, 'a pipeline needs at least one step').max(PIPELINE_LIMITS.maxSteps, `at most ${PIPELINE_LIMITS.maxSteps} steps`),
  /** A job run once when a run fails (a step failed for good or was cancelled); it sees the run directory. */
  onFailure: stepJob.optional(),
  /** Where the last step's files are published when a run succeeds (created if missing). */
  outputDir: absolutePath(),
});

export type PipelineSpecInput = z.input<typeof pipelineSchema>;

/** A step's pool task: the pool's name and what its worker gets as `params`. */
export interface PoolStep {
  name: string;
  params?: Record<string, unknown>;
}

/** A step: a job template (parsed, core/job-spec.ts, without dependsOn and idempotencyKey) or a pool task. */
export type PipelineStep = { name: string; fanOut: boolean } & ({ job: JobSpec; pool?: undefined } | { pool: PoolStep; job?: undefined });

export interface PipelineSpec {
  name: string;
  description?: string;
  steps: PipelineStep[];
  onFailure?: JobSpec;
  outputDir: string;
}

export interface Pipeline {
  name: string;
  spec: PipelineSpec;
  createdAt: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What the schema cannot say of the raw definition: fields gpuq sets for each run, step names used twice. */
function ruleIssues(input: unknown): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (!isObject(input)) return issues;
  const jobs: [string, unknown][] = Array.isArray(input.steps) ? input.steps.map((s, i) => [`steps.${i}.job`, isObject(s) ? s.job : undefined]) : [];
  if (input.onFailure !== undefined) jobs.push(['onFailure', input.onFailure]);
  for (const [path, job] of jobs) {
    if (!isObject(job)) continue;
    for (const field of ['dependsOn', 'idempotencyKey']) if (field in job) issues.push({ path: `${path}.${field}`, message: 'is set by gpuq for each run of the pipeline' });
  }
  const seen = new Set<unknown>();
  if (Array.isArray(input.steps)) {
    input.steps.forEach((s, i) => {
      if (!isObject(s) || typeof s.name !== 'string') return;
      if (seen.has(s.name)) issues.push({ path: `steps.${i}.name`, message: `step "${s.name}" is named twice` });
      seen.add(s.name);
    });
  }
  return issues;
}

/** Parses a pipeline definition; throws ValidationError naming every field and rule broken, the steps' job fields included. */
export function parsePipelineSpec(input: unknown): PipelineSpec {
  const r = pipelineSchema.safeParse(input);
  const issues = [...(r.success ? [] : zodIssues(r.error)), ...ruleIssues(input)];
  if (!r.success || issues.length > 0) throw new ValidationError(issues);
  const job = (j: z.output<typeof stepJob>): JobSpec => ({ ...j, name: j.name ?? '' });
  return {
    name: r.data.name,
    ...(r.data.description !== undefined ? { description: r.data.description } : {}),
    steps: r.data.steps.map((s): PipelineStep => (s.pool !== undefined ? { name: s.name, pool: s.pool, fanOut: s.fanOut } : { name: s.name, job: job(s.job!), fanOut: s.fanOut })),
    ...(r.data.onFailure !== undefined ? { onFailure: job(r.data.onFailure) } : {}),
    outputDir: r.data.outputDir,
  };
}

/** The job templates of a spec (its job steps' and the on-failure job), each with the field path it came from. */
export function specJobs(spec: PipelineSpec): { path: string; job: JobSpec }[] {
  const out = spec.steps.flatMap((s, i) => (s.job ? [{ path: `steps.${i}.job`, job: s.job }] : []));
  if (spec.onFailure) out.push({ path: 'onFailure', job: spec.onFailure });
  return out;
}

/** A pipeline or step name's rule, for routes and the CLI. */
export function isPipelineName(name: string): boolean {
  return nameRe.test(name);
}
