import type { JobSpec } from './job-spec.js';
import type { PipelineSpec } from './pipeline-spec.js';
import type { JobState } from './types.js';

/**
 * A pipeline run's jobs and fate (ADR 0018), pure.
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
 * A run succeeds once every job succeeded; its last step's files are then published to the output directory.
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

export interface PlannedJob {
  step: number;
  lane: number;
  spec: JobSpec;
  /** The jobs it waits for, by step and lane (their ids are known once they are submitted). */
  after: { step: number; lane: number }[];
  /** The directory it writes, created before the job is submitted. */
  outputDir: string;
}

/** How many jobs a step runs: one per input when fanned out, else one. */
export function lanesOf(spec: PipelineSpec, step: number, inputs: number): number {
  return spec.steps[step]!.fanOut ? inputs : 1;
}

/** The idempotency key of a run's job: a run's creation can be driven again after a crash without duplicates. */
export function runJobKey(runId: number, step: number, lane: number): string {
  return `pipeline-run:${runId}:${step}:${lane}`;
}

/** A problem with running this pipeline over these inputs, or null. */
export function runInputProblem(spec: PipelineSpec, inputs: readonly string[]): string | null {
  if (inputs.length === 0 && spec.steps.some((s) => s.fanOut)) return `pipeline ${spec.name} fans out over its inputs: give at least one`;
  return null;
}

/** Every job of a run, in submission order (a job's `after` are earlier in the list). `inputs`: the input files' names. */
export function planRunJobs(spec: PipelineSpec, runId: number, layout: RunLayout, inputs: readonly string[]): PlannedJob[] {
  const out: PlannedJob[] = [];
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
      if (step.fanOut && s === 0) env.GPUQ_STEP_INPUT = `${layout.inputDir(lane)}/${inputs[lane]!}`;
      out.push({
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

/**
 * A created run's state from its jobs': running while any has not ended; succeeded when all succeeded; failed when
 * one failed (the reason is the first failed job's, by step and lane: the cause, not the dependents it failed);
 * cancelled when one was cancelled and none failed by itself.
 */
export function runOutcome(spec: PipelineSpec, jobs: readonly RunJobState[]): { state: 'running' | 'succeeded' | 'failed' | 'cancelled'; reason: string | null } {
  if (jobs.some((j) => j.state !== 'succeeded' && j.state !== 'failed' && j.state !== 'cancelled')) return { state: 'running', reason: null };
  const ordered = [...jobs].sort((a, b) => a.step - b.step || a.lane - b.lane);
  const failed = ordered.find((j) => j.state === 'failed' && !(j.reason ?? '').startsWith('dependency job '));
  if (failed) return { state: 'failed', reason: `step ${spec.steps[failed.step]?.name ?? failed.step}${spec.steps[failed.step]?.fanOut ? ` (input ${failed.lane})` : ''}, job ${failed.jobId}: ${failed.reason ?? 'failed'}` };
  const cancelled = ordered.find((j) => j.state === 'cancelled');
  if (cancelled) return { state: 'cancelled', reason: `job ${cancelled.jobId} was cancelled${cancelled.reason ? `: ${cancelled.reason}` : ''}` };
  const anyFailed = ordered.find((j) => j.state === 'failed');
  if (anyFailed) return { state: 'failed', reason: `job ${anyFailed.jobId}: ${anyFailed.reason ?? 'failed'}` };
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
  reason: string | null;
  /** The files chosen for publishing (null until the run's jobs all succeeded). */
  outputs: PublishedFile[] | null;
  onFailureJobId: number | null;
  createdAt: number;
  endedAt: number | null;
}

/** A run with the state of each of its jobs. */
export interface PipelineRunDetail extends PipelineRun {
  jobs: RunJobState[];
}
