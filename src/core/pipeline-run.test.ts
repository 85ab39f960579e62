import { describe, expect, it } from 'vitest';
import { onFailureJob, outputName, planRun, runInputProblem, runLayout, runOutcome, unitsToCreate, type PlannedUnit, type RunJobState, type RunTaskState } from './pipeline-run.js';
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

/** A planned job unit's spec (the test fails on a task). */
const specOf = (u: PlannedUnit) => {
  if (u.kind !== 'job') throw new Error(`unit ${u.step}/${u.lane} is a task`);
  return u.spec;
};

describe('planRun', () => {
  const jobs = planRun(spec, 7, layout, ['a.csv', 'b.csv']);
  const at = (step: number, lane: number) => specOf(jobs.find((j) => j.step === step && j.lane === lane)!);

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
    expect(at(0, 1).env).toEqual({
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
    expect(at(1, 0).env).toMatchObject({ MODEL: 'm', GPUQ_STEP_INPUT_DIR: '/runs/r/steps/prep/0', GPUQ_PIPELINE_LANE: '0' });
    expect(at(1, 0).env.GPUQ_STEP_INPUT).toBeUndefined();
    expect(at(2, 0).env).toMatchObject({ GPUQ_STEP_INPUT_DIRS: '/runs/r/steps/infer/0:/runs/r/steps/infer/1', GPUQ_STEP_OUTPUT_DIR: '/runs/r/steps/merge/0' });
    expect(at(2, 0).env.GPUQ_STEP_INPUT_DIR).toBeUndefined();
    expect(at(2, 0).env.GPUQ_PIPELINE_LANE).toBeUndefined();
  });

  it('names, labels and keys each job by run, step and lane; keeps the template\'s own name and resources', () => {
    expect(at(1, 1)).toMatchObject({ name: 'etl/infer:1', gpus: 1, idempotencyKey: 'pipeline-run:7:1:1', labels: { 'gpuq.pipeline': 'etl', 'gpuq.pipeline.run': '7', 'gpuq.pipeline.step': 'infer' } });
    expect(at(2, 0).name).toBe('etl/merge');
    expect(at(3, 1).name).toBe('weekly-report');
    expect(new Set(jobs.map((j) => specOf(j).idempotencyKey)).size).toBe(jobs.length);
  });

  it('needs an input for a pipeline that fans out; a first step that is not fanned out reads every input', () => {
    expect(runInputProblem(spec, [])).toMatch(/fans out over its inputs/);
    const join = parsePipelineSpec({ name: 'j', outputDir: '/o', steps: [{ name: 'all', job: { command: ['x'] } }] });
    expect(runInputProblem(join, [])).toBeNull();
    expect(specOf(planRun(join, 1, layout, ['a', 'b'])[0]!).env.GPUQ_STEP_INPUT_DIRS).toBe('/runs/r/inputs/0:/runs/r/inputs/1');
  });

  it('gives the on-failure job the run, its directory and why it failed', () => {
    expect(onFailureJob(spec, 7, layout, 'step prep failed')!.env).toMatchObject({ GPUQ_PIPELINE_RUN: '7', GPUQ_RUN_DIR: '/runs/r', GPUQ_PIPELINE_FAILURE: 'step prep failed' });
    expect(onFailureJob(parsePipelineSpec({ name: 'x', outputDir: '/o', steps: [{ name: 's', job: { command: ['x'] } }] }), 1, layout, 'r')).toBeNull();
  });
});

const job = (step: number, lane: number, state: RunJobState['state'], reason: string | null = null): RunJobState => ({ step, lane, jobId: step * 10 + lane, state, reason });
const task = (step: number, lane: number, state: RunTaskState['state'], error: string | null = null): RunTaskState => ({ step, lane, pool: 'embed', taskId: 100 + step * 10 + lane, state, error });

describe('runOutcome', () => {
  const units = planRun(spec, 7, layout, ['a.csv', 'b.csv']).length;
  const jobsOnly = (...jobs: RunJobState[]) => ({ jobs, tasks: [] });

  it('is running while a job has not ended, then succeeded, failed with the cause, or cancelled', () => {
    expect(runOutcome(spec, jobsOnly(job(0, 0, 'succeeded'), job(1, 0, 'running')), 2).state).toBe('running');
    expect(runOutcome(spec, jobsOnly(job(0, 0, 'succeeded'), job(1, 0, 'succeeded')), 2)).toEqual({ state: 'succeeded', reason: null });
    // The cause, not the dependents the store failed after it.
    expect(runOutcome(spec, jobsOnly(job(2, 0, 'failed', 'dependency job 11 failed: exited 3'), job(1, 1, 'failed', 'exited 3'), job(0, 1, 'succeeded')), units)).toEqual({ state: 'failed', reason: 'step infer (input 1), job 11: exited 3' });
    expect(runOutcome(spec, jobsOnly(job(0, 0, 'cancelled', 'by alice'), job(1, 0, 'failed', 'dependency job 0 was cancelled')), units)).toEqual({ state: 'cancelled', reason: 'job 0 was cancelled: by alice' });
  });

  it('is pending, not succeeded, while units of the plan are still to be created; a failed or gone task fails the run', () => {
    expect(runOutcome(spec, jobsOnly(job(0, 0, 'succeeded'), job(0, 1, 'succeeded')), units)).toEqual({ state: 'pending', reason: null });
    expect(runOutcome(spec, { jobs: [job(0, 0, 'succeeded')], tasks: [task(1, 0, 'running')] }, units).state).toBe('running');
    expect(runOutcome(spec, { jobs: [job(0, 0, 'succeeded'), job(0, 1, 'succeeded')], tasks: [task(1, 0, 'succeeded'), task(1, 1, 'failed', 'CUDA out of memory; gave up after 3 attempt(s)')] }, units)).toEqual({
      state: 'failed',
      reason: 'step infer (input 1), task 111 of pool embed: CUDA out of memory; gave up after 3 attempt(s)',
    });
    expect(runOutcome(spec, { jobs: [], tasks: [task(1, 0, null)] }, units)).toEqual({ state: 'failed', reason: 'step infer (input 0), task 110 of pool embed: the task is gone (its pool was deleted)' });
  });
});

describe('pool steps', () => {
  const pooled = parsePipelineSpec({
    name: 'etl',
    outputDir: '/out',
    steps: [
      { name: 'prep', job: { shell: 'prep' }, fanOut: true },
      { name: 'infer', pool: { name: 'embed', params: { batch: 8 } }, fanOut: true },
      { name: 'merge', job: { command: ['merge'] } },
      { name: 'report', job: { command: ['report'] }, fanOut: true },
    ],
  });
  const plan = planRun(pooled, 7, layout, ['a.csv', 'b.csv']);
  const keys = (units: readonly PlannedUnit[]) => units.map((u) => `${u.kind} ${u.step}/${u.lane}`);

  it('plans a pool step as tasks whose payload says where to read and write', () => {
    const t = plan.find((u) => u.step === 1 && u.lane === 1)!;
    expect(t).toMatchObject({
      kind: 'task',
      pool: 'embed',
      idempotencyKey: 'pipeline-run:7:1:1',
      payload: { pipeline: 'etl', run: 7, step: 'infer', lane: 1, runDir: '/runs/r', inputDirs: ['/runs/r/steps/prep/1'], outputDir: '/runs/r/steps/infer/1', params: { batch: 8 } },
    });
    const first = planRun(parsePipelineSpec({ name: 'p', outputDir: '/o', steps: [{ name: 'infer', pool: { name: 'embed' }, fanOut: true }] }), 3, layout, ['x.bin']);
    expect(first[0]).toMatchObject({ kind: 'task', payload: { input: '/runs/r/inputs/0/x.bin', inputDirs: ['/runs/r/inputs/0'] } });
  });

  it('creates jobs up to the pool step, a lane\'s task when its job succeeded, the jobs after the tasks when all succeeded', () => {
    const none = { jobs: [], tasks: [] };
    expect(keys(unitsToCreate(plan, none))).toEqual(['job 0/0', 'job 0/1']);
    const prepRunning = { jobs: [job(0, 0, 'running'), job(0, 1, 'queued')], tasks: [] };
    expect(unitsToCreate(plan, prepRunning)).toEqual([]);
    const lane0Done = { jobs: [job(0, 0, 'succeeded'), job(0, 1, 'running')], tasks: [] };
    expect(keys(unitsToCreate(plan, lane0Done))).toEqual(['task 1/0']);
    const oneTaskLeft = { jobs: [job(0, 0, 'succeeded'), job(0, 1, 'succeeded')], tasks: [task(1, 0, 'succeeded'), task(1, 1, 'running')] };
    expect(unitsToCreate(plan, oneTaskLeft)).toEqual([]);
    const tasksDone = { ...oneTaskLeft, tasks: [task(1, 0, 'succeeded'), task(1, 1, 'succeeded')] };
    // The jobs after the tasks come together: report waits for merge through dependsOn.
    expect(keys(unitsToCreate(plan, tasksDone))).toEqual(['job 2/0', 'job 3/0', 'job 3/1']);
    expect(runOutcome(pooled, tasksDone, plan.length).state).toBe('pending');
  });

  it('creates nothing more once a unit failed or was cancelled', () => {
    expect(unitsToCreate(plan, { jobs: [job(0, 0, 'succeeded'), job(0, 1, 'failed', 'exited 1')], tasks: [] })).toEqual([]);
    expect(unitsToCreate(plan, { jobs: [job(0, 0, 'succeeded'), job(0, 1, 'succeeded')], tasks: [task(1, 0, 'cancelled')] })).toEqual([]);
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
