import { describe, expect, it } from 'vitest';
import { onFailureJob, outputName, planRunJobs, runInputProblem, runLayout, runOutcome, type RunJobState } from './pipeline-run.js';
import { parsePipelineSpec } from './pipeline-spec.js';

const spec = parsePipelineSpec({
  name: 'etl',
  outputDir: '/out',
  steps: [
    { name: 'prep', job: { shell: 'prep' }, fanOut: true },
    { name: 'infer', job: { command: ['infer'], gpus: 1, env: { MODEL: 'm' } }, fanOut: true },
    { name: 'merge', job: { command: ['merge'] } },
    { name: 'report', job: { command: ['report'], name: 'weekly-report' }, fanOut: true },
  ],
  onFailure: { shell: 'notify' },
});
const layout = runLayout('/runs/r');

describe('planRunJobs', () => {
  const jobs = planRunJobs(spec, 7, layout, ['a.csv', 'b.csv']);
  const at = (step: number, lane: number) => jobs.find((j) => j.step === step && j.lane === lane)!;

  it('runs a fan-out step once per input and the others once, each after the jobs it reads', () => {
    expect(jobs.map((j) => [j.step, j.lane, j.after.map((a) => `${a.step}/${a.lane}`)])).toEqual([
      [0, 0, []],
      [0, 1, []],
      [1, 0, ['0/0']],
      [1, 1, ['0/1']],
      [2, 0, ['1/0', '1/1']],
      [3, 0, ['2/0']],
      [3, 1, ['2/0']],
    ]);
  });

  it('tells each job where it reads and writes, in its environment, beside its own variables', () => {
    expect(at(0, 1).spec.env).toEqual({
      GPUQ_PIPELINE: 'etl',
      GPUQ_PIPELINE_RUN: '7',
      GPUQ_PIPELINE_STEP: 'prep',
      GPUQ_RUN_DIR: '/runs/r',
      GPUQ_STEP_OUTPUT_DIR: '/runs/r/steps/prep/1',
      GPUQ_STEP_INPUT_DIRS: '/runs/r/inputs/1',
      GPUQ_STEP_INPUT_DIR: '/runs/r/inputs/1',
      GPUQ_STEP_INPUT: '/runs/r/inputs/1/b.csv',
      GPUQ_PIPELINE_LANE: '1',
    });
    expect(at(1, 0).spec.env).toMatchObject({ MODEL: 'm', GPUQ_STEP_INPUT_DIR: '/runs/r/steps/prep/0', GPUQ_PIPELINE_LANE: '0' });
    expect(at(1, 0).spec.env.GPUQ_STEP_INPUT).toBeUndefined();
    expect(at(2, 0).spec.env).toMatchObject({ GPUQ_STEP_INPUT_DIRS: '/runs/r/steps/infer/0:/runs/r/steps/infer/1', GPUQ_STEP_OUTPUT_DIR: '/runs/r/steps/merge/0' });
    expect(at(2, 0).spec.env.GPUQ_STEP_INPUT_DIR).toBeUndefined();
    expect(at(2, 0).spec.env.GPUQ_PIPELINE_LANE).toBeUndefined();
  });

  it('names, labels and keys each job by run, step and lane; keeps the template\'s own name and resources', () => {
    expect(at(1, 1).spec).toMatchObject({ name: 'etl/infer:1', gpus: 1, idempotencyKey: 'pipeline-run:7:1:1', labels: { 'gpuq.pipeline': 'etl', 'gpuq.pipeline.run': '7', 'gpuq.pipeline.step': 'infer' } });
    expect(at(2, 0).spec.name).toBe('etl/merge');
    expect(at(3, 1).spec.name).toBe('weekly-report');
    expect(new Set(jobs.map((j) => j.spec.idempotencyKey)).size).toBe(jobs.length);
  });

  it('needs an input for a pipeline that fans out; a first step that is not fanned out reads every input', () => {
    expect(runInputProblem(spec, [])).toMatch(/fans out over its inputs/);
    const join = parsePipelineSpec({ name: 'j', outputDir: '/o', steps: [{ name: 'all', job: { command: ['x'] } }] });
    expect(runInputProblem(join, [])).toBeNull();
    expect(planRunJobs(join, 1, layout, ['a', 'b'])[0]!.spec.env.GPUQ_STEP_INPUT_DIRS).toBe('/runs/r/inputs/0:/runs/r/inputs/1');
  });

  it('gives the on-failure job the run, its directory and why it failed', () => {
    expect(onFailureJob(spec, 7, layout, 'step prep failed')!.env).toMatchObject({ GPUQ_PIPELINE_RUN: '7', GPUQ_RUN_DIR: '/runs/r', GPUQ_PIPELINE_FAILURE: 'step prep failed' });
    expect(onFailureJob(parsePipelineSpec({ name: 'x', outputDir: '/o', steps: [{ name: 's', job: { command: ['x'] } }] }), 1, layout, 'r')).toBeNull();
  });
});

describe('runOutcome', () => {
  const job = (step: number, lane: number, state: RunJobState['state'], reason: string | null = null): RunJobState => ({ step, lane, jobId: step * 10 + lane, state, reason });

  it('is running while a job has not ended, then succeeded, failed with the cause, or cancelled', () => {
    expect(runOutcome(spec, [job(0, 0, 'succeeded'), job(1, 0, 'running')]).state).toBe('running');
    expect(runOutcome(spec, [job(0, 0, 'succeeded'), job(1, 0, 'succeeded')])).toEqual({ state: 'succeeded', reason: null });
    // The cause, not the dependents the store failed after it.
    expect(runOutcome(spec, [job(2, 0, 'failed', 'dependency job 11 failed: exited 3'), job(1, 1, 'failed', 'exited 3'), job(0, 1, 'succeeded')])).toEqual({ state: 'failed', reason: 'step infer (input 1), job 11: exited 3' });
    expect(runOutcome(spec, [job(0, 0, 'cancelled', 'by alice'), job(1, 0, 'failed', 'dependency job 0 was cancelled')])).toEqual({ state: 'cancelled', reason: 'job 0 was cancelled: by alice' });
  });
});

describe('outputName', () => {
  it('keeps a free name, else marks it with the run, then counts', () => {
    expect(outputName('a.csv', 3, new Set())).toBe('a.csv');
    expect(outputName('a.csv', 3, new Set(['a.csv']))).toBe('a.run3.csv');
    expect(outputName('a.csv', 3, new Set(['a.csv', 'a.run3.csv']))).toBe('a.run3-2.csv');
    expect(outputName('README', 3, new Set(['README']))).toBe('README.run3');
    expect(outputName('.hidden', 3, new Set(['.hidden']))).toBe('.hidden.run3');
  });
});
