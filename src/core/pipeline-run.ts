import type { JobSpec } from './job-spec.js';
import type { PipelineSpec } from './pipeline-spec.js';
import type { TaskState } from './pool-spec.js';
import type { JobState } from './types.js';

/**
 * A pipeline run's jobs, pool tasks and fate (ADR 0018), pure.
 *
 * Layout of a run directory (RUN = <pipelines dir>/<pipeline>/runs/<run id>):
 *   RUN/inputs/<lane>/<file>        the run's input files, one per lane (lane = the input's index)
 *   RUN/steps/<step>/<lane>/        what a step's job writes (lane 0 for a step that is not fanned out)
 * Each job gets, beside the usual GPUQ_* variables:
 *   GPUQ_PIPELINE, GPUQ_PIPELINE_RUN, GPUQ_PIPELINE_STEP, GPUQ_RUN_DIR
 *   GPUQ_STEP_OUTPUT_DIR   where it writes (created before it starts)
 *   GPUQ_STEP_INPUT_DIRS   the directories it reads, ":"-separated: the outputs of the step before it (the lane's
 *                          own for a fan-out step after a fan-out step, all lanes' otherwise), or the input
 *                          directories for the first step
 *   GPUQ_STEP_INPUT_DIR    the same when it is exactly one directory
 *   GPUQ_PIPELINE_LANE     for a fan-out step: its lane; GPUQ_STEP_INPUT: the lane's input file, when the step is first
 * A pool step's task carries the same in its payload (StepTaskPayload). A run succeeds once every job and task
 * succeeded; its last step's files are then published to the output directory.
 */

export interface RunLayout {
  runDir: string;
  inputDir(lane: number): string;
  stepDir(step: string, lane: number): string;
}

export function runLayout(runDir: string): RunLayout {
  return {
    runDir,
    inputDir: (lane) => `${runDir}/inputs/${lane}`,
    stepDir: (step, lane) => `${runDir}/steps/${step}/${lane}`,
  };
}

interface PlannedBase {
  step: number;
  lane: number;
  /** The units it waits for, by step and lane (their ids are known once they are created). */
  after: { step: number; lane: number }[];
  /** The directory it writes, created before the run is stored. */
  outputDir: string;
}

/** What a pool step's task carries to the worker (docs/pool-protocol.md): where to read and write, like a job's GPUQ_STEP_* variables. */
export interface StepTaskPayload {
  pipeline: string;
  run: number;
  step: string;
  lane: number;
  runDir: string;
  /** The directories to read (as GPUQ_STEP_INPUT_DIRS). */
  inputDirs: string[];
  /** Where to write (as GPUQ_STEP_OUTPUT_DIR). */
  outputDir: string;
  /** The lane's input file, for a first step that fans out (as GPUQ_STEP_INPUT). */
  input?: string;
  /** The step's `pool.params`, as given. */
  params?: Record<string, unknown>;
}

/**
 * One job or pool task of a run. Jobs wait for jobs through `dependsOn`, so a job is created as soon as everything
 * it waits for is a job (created, or created with it); a task waits for nothing in the pool, so it is created
 * once everything it waits for succeeded, and so is a job that waits for a task (unitsToCreate).
 */
export type PlannedUnit = PlannedBase & ({ kind: 'job'; spec: JobSpec } | { kind: 'task'; pool: string; payload: StepTaskPayload; idempotencyKey: string });

/** How many jobs a step runs: one per input when fanned out, else one. */
export function lanesOf(spec: PipelineSpec, step: number, inputs: number): number {
  return spec.steps[step]!.fanOut ? inputs : 1;
}

/** How many units (jobs and pool tasks) a run of `inputs` input files has in all. */
export function plannedUnits(spec: PipelineSpec, inputs: number): number {
  return spec.steps.reduce((n, _, step) => n + lanesOf(spec, step, inputs), 0);
}

/** The idempotency key of a run's job or pool task: a run's units can be created again after a crash without duplicates. */
export function runJobKey(runId: number, step: number, lane: number): string {
  return `pipeline-run:${runId}:${step}:${lane}`;
}

/** A problem with running this pipeline over these inputs, or null. */
export function runInputProblem(spec: PipelineSpec, inputs: readonly string[]): string | null {
  if (inputs.length === 0 && spec.steps.some((s) => s.fanOut)) return `pipeline ${spec.name} fans out over its inputs: give at least one`;
  return null;
}

/** Every job and task of a run, in creation order (a unit's `after` are earlier in the list). `inputs`: the input files' names. */
export function planRun(spec: PipelineSpec, runId: number, layout: RunLayout, inputs: readonly string[]): PlannedUnit[] {
  const out: PlannedUnit[] = [];
  spec.steps.forEach((step, s) => {
    const lanes = lanesOf(spec, s, inputs.length);
    for (let lane = 0; lane < lanes; lane++) {
      let inputDirs: string[];
      let after: { step: number; lane: number }[];
      if (s === 0) {
        inputDirs = step.fanOut ? [layout.inputDir(lane)] : inputs.map((_, i) => layout.inputDir(i));
        after = [];
      } else {
        const prev = spec.steps[s - 1]!;
        const prevLanes = prev.fanOut && step.fanOut ? [lane] : Array.from({ length: lanesOf(spec, s - 1, inputs.length) }, (_, i) => i);
        inputDirs = prevLanes.map((l) => layout.stepDir(prev.name, l));
        after = prevLanes.map((l) => ({ step: s - 1, lane: l }));
      }
      const outputDir = layout.stepDir(step.name, lane);
      const input = step.fanOut && s === 0 ? `${layout.inputDir(lane)}/${inputs[lane]!}` : undefined;
      if (step.pool) {
        const payload: StepTaskPayload = { pipeline: spec.name, run: runId, step: step.name, lane, runDir: layout.runDir, inputDirs, outputDir };
        if (input !== undefined) payload.input = input;
        if (step.pool.params !== undefined) payload.params = step.pool.params;
        out.push({ kind: 'task', step: s, lane, after, outputDir, pool: step.pool.name, payload, idempotencyKey: runJobKey(runId, s, lane) });
        continue;
      }
      const env: Record<string, string> = {
        ...step.job.env,
        GPUQ_PIPELINE: spec.name,
        GPUQ_PIPELINE_RUN: String(runId),
        GPUQ_PIPELINE_STEP: step.name,
        GPUQ_RUN_DIR: layout.runDir,
        GPUQ_STEP_OUTPUT_DIR: outputDir,
        GPUQ_STEP_INPUT_DIRS: inputDirs.join(':'),
      };
      if (inputDirs.length === 1) env.GPUQ_STEP_INPUT_DIR = inputDirs[0]!;
      if (step.fanOut) env.GPUQ_PIPELINE_LANE = String(lane);
      if (input !== undefined) env.GPUQ_STEP_INPUT = input;
      out.push({
        kind: 'job',
        step: s,
        lane,
        after,
        outputDir,
        spec: {
          ...step.job,
          name: step.job.name || `${spec.name}/${step.name}${step.fanOut ? `:${lane}` : ''}`,
          env,
          labels: { ...step.job.labels, 'gpuq.pipeline': spec.name, 'gpuq.pipeline.run': String(runId), 'gpuq.pipeline.step': step.name },
          idempotencyKey: runJobKey(runId, s, lane),
          dependsOn: [],
        },
      });
    }
  });
  return out;
}

/** The job run once when a run fails, or null when the pipeline has none. */
export function onFailureJob(spec: PipelineSpec, runId: number, layout: RunLayout, reason: string): JobSpec | null {
  if (!spec.onFailure) return null;
  return {
    ...spec.onFailure,
    name: spec.onFailure.name || `${spec.name}/on-failure`,
    env: { ...spec.onFailure.env, GPUQ_PIPELINE: spec.name, GPUQ_PIPELINE_RUN: String(runId), GPUQ_RUN_DIR: layout.runDir, GPUQ_PIPELINE_FAILURE: reason.slice(0, 4096) },
    labels: { ...spec.onFailure.labels, 'gpuq.pipeline': spec.name, 'gpuq.pipeline.run': String(runId), 'gpuq.pipeline.step': 'on-failure' },
    idempotencyKey: `pipeline-run:${runId}:on-failure`,
    dependsOn: [],
  };
}

export type RunState = 'creating' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const RUN_STATES: readonly RunState[] = ['creating', 'running', 'succeeded', 'failed', 'cancelled'];

export interface RunJobState {
  step: number;
  lane: number;
  jobId: number;
  state: JobState;
  reason: string | null;
}

/** A pool step's task in a run (`error`: the worker's error or why delivery gave up, once failed). */
export interface RunTaskState {
  step: number;
  lane: number;
  pool: string;
  taskId: number;
  /** Null when the task is gone (its pool was deleted). */
  state: TaskState | null;
  error: string | null;
}

/** A run's units as the pure decisions see them: ended or not, and how. */
type UnitFate = 'active' | 'succeeded' | 'failed' | 'cancelled';
interface UnitView {
  step: number;
  lane: number;
  kind: 'job' | 'task';
  fate: UnitFate;
  /** Failed because something it waited for failed (the store's cascade), not by itself. */
  cascaded: boolean;
  describe: string;
  reason: string | null;
}

const unitKey = (u: { step: number; lane: number }) => `${u.step}/${u.lane}`;

function unitViews(run: { jobs: readonly RunJobState[]; tasks: readonly RunTaskState[] }): UnitView[] {
  const jobFate = (s: JobState): UnitFate => (s === 'succeeded' || s === 'failed' || s === 'cancelled' ? s : 'active');
  const taskFate = (s: TaskState | null): UnitFate => (s === null ? 'failed' : s === 'queued' || s === 'running' ? 'active' : s);
  return [
    ...run.jobs.map((j) => ({ step: j.step, lane: j.lane, kind: 'job' as const, fate: jobFate(j.state), cascaded: (j.reason ?? '').startsWith('dependency job '), describe: `job ${j.jobId}`, reason: j.reason })),
    ...run.tasks.map((t) => ({ step: t.step, lane: t.lane, kind: 'task' as const, fate: taskFate(t.state), cascaded: false, describe: `task ${t.taskId} of pool ${t.pool}`, reason: t.state === null ? 'the task is gone (its pool was deleted)' : t.error })),
  ].sort((x, y) => x.step - y.step || x.lane - y.lane);
}

/**
 * Which planned units to create now, in plan order: none once a unit failed or was cancelled (the run is ending);
 * else each not yet created whose `after` are all succeeded, or, for a job, jobs (created or in this batch) it
 * can wait for through `dependsOn`. A run of job steps only is created whole at once; a pool step's tasks, and the
 * jobs after them, when the units before them succeeded.
 */
export function unitsToCreate(plan: readonly PlannedUnit[], run: { jobs: readonly RunJobState[]; tasks: readonly RunTaskState[] }): PlannedUnit[] {
  const views = unitViews(run);
  if (views.some((v) => v.fate === 'failed' || v.fate === 'cancelled')) return [];
  const fate = new Map(views.map((v) => [unitKey(v), v]));
  const kindOf = new Map(plan.map((u) => [unitKey(u), u.kind]));
  const batch = new Set<string>();
  const out: PlannedUnit[] = [];
  for (const u of plan) {
    const k = unitKey(u);
    if (fate.has(k)) continue;
    const ready = u.after.every((a) => {
      const ak = unitKey(a);
      if (fate.get(ak)?.fate === 'succeeded') return true;
      return u.kind === 'job' && kindOf.get(ak) === 'job' && (fate.has(ak) || batch.has(ak));
    });
    if (!ready) continue;
    out.push(u);
    batch.add(k);
  }
  return out;
}

/**
 * A job unit's dependsOn: the ids of the jobs among its `after` (`ids`: the run's jobs by "step/lane"); the tasks
 * among them (`taskKeys`) have succeeded before the job is created, so it does not wait for them.
 */
export function jobsAfter(unit: PlannedUnit, ids: ReadonlyMap<string, number>, taskKeys: ReadonlySet<string>): number[] {
  return unit.after.flatMap((a) => {
    const k = unitKey(a);
    if (taskKeys.has(k)) return [];
    const id = ids.get(k);
    if (id === undefined) throw new Error(`pipeline unit ${unitKey(unit)} waits for ${k}, which was not created before it`);
    return [id];
  });
}

/**
 * A run's state from its units' (jobs' and tasks'): running while any has not ended; pending when none runs and
 * units of the plan are still to be created (`planned`: how many the run has in all); succeeded when all were
 * created and succeeded; failed when one failed (the reason is the first that failed by itself, by step and lane:
 * the cause, not the dependents it failed); cancelled when one was cancelled and none failed by itself.
 */
export function runOutcome(
  spec: PipelineSpec,
  run: { jobs: readonly RunJobState[]; tasks: readonly RunTaskState[] },
  planned: number,
): { state: 'running' | 'pending' | 'succeeded' | 'failed' | 'cancelled'; reason: string | null } {
  const units = unitViews(run);
  if (units.some((u) => u.fate === 'active')) return { state: 'running', reason: null };
  const where = (u: UnitView) => `step ${spec.steps[u.step]?.name ?? u.step}${spec.steps[u.step]?.fanOut ? ` (input ${u.lane})` : ''}, ${u.describe}`;
  const failed = units.find((u) => u.fate === 'failed' && !u.cascaded);
  if (failed) return { state: 'failed', reason: `${where(failed)}: ${failed.reason ?? 'failed'}` };
  const cancelled = units.find((u) => u.fate === 'cancelled');
  if (cancelled) return { state: 'cancelled', reason: `${cancelled.describe} was cancelled${cancelled.reason ? `: ${cancelled.reason}` : ''}` };
  const anyFailed = units.find((u) => u.fate === 'failed');
  if (anyFailed) return { state: 'failed', reason: `${anyFailed.describe}: ${anyFailed.reason ?? 'failed'}` };
  if (units.length < planned) return { state: 'pending', reason: null };
  return { state: 'succeeded', reason: null };
}

/**
 * The name a published file takes in the output directory: its own, or, when that is taken, `<stem>.run<id><ext>`
 * (then `.run<id>-2`, …). `taken` holds the names present and those already chosen for this run.
 */
export function outputName(name: string, runId: number, taken: ReadonlySet<string>): string {
  if (!taken.has(name)) return name;
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let k = 1; ; k++) {
    const candidate = `${stem}.run${runId}${k === 1 ? '' : `-${k}`}${ext}`;
    if (!taken.has(candidate)) return candidate;
  }
}

/** A file a successful run publishes: `from` (a path under the run directory) becomes `name` in the output directory. */
export interface PublishedFile {
  from: string;
  name: string;
}

/** A pipeline run as stored (table pipeline_runs). */
export interface PipelineRun {
  id: number;
  pipeline: string;
  /** The pipeline's spec when the run was created. */
  spec: PipelineSpec;
  state: Exclude<RunState, 'creating'>;
  runDir: string;
  /** The input files' names, in lane order. */
  inputs: string[];
  owner: string | null;
  /** The broker intake source whose message started the run (ADR 0017), or null. */
  source: string | null;
  reason: string | null;
  /** The files chosen for publishing (null until the run's jobs all succeeded). */
  outputs: PublishedFile[] | null;
  onFailureJobId: number | null;
  createdAt: number;
  endedAt: number | null;
}

/** A run with the state of each of its jobs and pool tasks (those created so far). */
export interface PipelineRunDetail extends PipelineRun {
  jobs: RunJobState[];
  tasks: RunTaskState[];
}
