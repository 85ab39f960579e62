import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/access.js';
import { planRun, runLayout, unitsToCreate, type PipelineRunDetail } from '../../core/pipeline-run.js';
import { parsePipelineSpec, type PipelineSpecInput } from '../../core/pipeline-spec.js';
import type { ContractContext } from './contract-context.js';
import { end, failToDlq, node, SUCCEEDED, start, T0 } from './fixtures.js';
import { poolSpec } from './pool-fixtures.js';

/** Pipelines (pipeline-store.ts): definitions, runs created with all their jobs at once, their jobs' states, outputs and ends. */
export function pipelineContract(ctx: ContractContext): void {
  const audit = (action: AuditRecord['action'], target: string): AuditRecord => ({ at: T0, actor: 'ops', actorTokenId: null, role: 'operator', action, target, outcome: 'ok', detail: null });
  const spec = (name = 'etl', over: Partial<PipelineSpecInput> = {}) =>
    parsePipelineSpec({
      name,
      outputDir: '/srv/out',
      steps: [
        { name: 'prep', job: { command: ['prep'] }, fanOut: true },
        { name: 'infer', job: { command: ['infer'], gpus: 1 }, fanOut: true },
        { name: 'merge', job: { command: ['merge'] } },
      ],
      ...over,
    });
  const plan = (runDir: string, inputs: string[]) => (runId: number, s: ReturnType<typeof spec>) => planRun(s, runId, runLayout(runDir), inputs);

  describe('pipeline definitions', () => {
    it('creates, reads, lists and deletes pipelines, audited; refuses a second of a name', async () => {
      const created = await ctx.store.createPipeline(spec('beta'), T0, (p) => audit('pipelines.create', p.name));
      expect(created).toEqual({ name: 'beta', spec: spec('beta'), createdAt: T0 });
      await ctx.store.createPipeline(spec('alpha'), T0 + 1);
      expect(await ctx.store.getPipeline('beta')).toEqual(created);
      expect((await ctx.store.listPipelines()).map((p) => p.name)).toEqual(['alpha', 'beta']);
      await expect(ctx.store.createPipeline(spec('beta', { outputDir: '/elsewhere' }), T0 + 2)).rejects.toMatchObject({ code: 'PIPELINE_EXISTS', pipeline: 'beta' });
      expect(await ctx.store.getPipeline('beta')).toEqual(created);
      expect(await ctx.store.deletePipeline('beta', (gone) => (gone ? audit('pipelines.delete', 'beta') : null))).toBe(true);
      expect(await ctx.store.deletePipeline('beta')).toBe(false);
      expect(await ctx.store.getPipeline('beta')).toBeNull();
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => [e.action, e.target])).toEqual([
        ['pipelines.delete', 'beta'],
        ['pipelines.create', 'beta'],
      ]);
    });
  });

  describe('pipeline runs', () => {
    it('creates a run with every job in one go, linked by dependsOn lane by lane, and derives the run from its jobs', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      await ctx.store.createPipeline(spec(), T0);
      const run = await ctx.store.createPipelineRun({ pipeline: 'etl', runDir: '/runs/r1', inputs: ['a.csv', 'b.csv'] }, plan('/runs/r1', ['a.csv', 'b.csv']), T0 + 5, { name: 'alice', tokenId: 'tok-1' });
      expect(run).toMatchObject({ pipeline: 'etl', state: 'running', runDir: '/runs/r1', inputs: ['a.csv', 'b.csv'], owner: 'alice', outputs: null, createdAt: T0 + 5, endedAt: null });
      expect(run!.spec).toEqual(spec());
      expect(run!.jobs.map((j) => [j.step, j.lane, j.state])).toEqual([
        [0, 0, 'queued'],
        [0, 1, 'queued'],
        [1, 0, 'queued'],
        [1, 1, 'queued'],
        [2, 0, 'queued'],
      ]);
      const id = (step: number, lane: number) => run!.jobs.find((j) => j.step === step && j.lane === lane)!.jobId;
      const job = async (step: number, lane: number) => (await ctx.store.getJob(id(step, lane)))!;
      expect((await job(1, 1)).spec.dependsOn).toEqual([id(0, 1)]);
      expect((await job(2, 0)).spec.dependsOn).toEqual([id(1, 0), id(1, 1)]);
      expect((await job(1, 0)).spec).toMatchObject({ gpus: 1, labels: { 'gpuq.pipeline': 'etl', 'gpuq.pipeline.run': String(run!.id), 'gpuq.pipeline.step': 'infer' }, env: { GPUQ_STEP_INPUT_DIR: '/runs/r1/steps/prep/0' } });
      expect((await job(0, 0)).owner).toBe('alice');
      expect(await ctx.store.getPipelineRun(run!.id)).toEqual(run);
      expect((await ctx.store.runningPipelineRuns()).map((r) => r.id)).toEqual([run!.id]);

      // A job's end shows in the run; a failure fails the dependents the store's cascade reaches.
      await failToDlq(ctx.store, id(0, 0), 'n1', T0 + 10);
      const after = await ctx.store.getPipelineRun(run!.id);
      expect(after!.jobs.map((j) => [j.step, j.lane, j.state])).toEqual([
        [0, 0, 'failed'],
        [0, 1, 'queued'],
        [1, 0, 'failed'],
        [1, 1, 'queued'],
        [2, 0, 'failed'],
      ]);
      expect(after!.jobs.find((j) => j.step === 1 && j.lane === 0)!.reason).toMatch(/^dependency job \d+ failed/);
    });

    it('creates nothing for a missing pipeline; lists runs newest first, by pipeline and by page; ends a run once', async () => {
      expect(await ctx.store.createPipelineRun({ pipeline: 'nope', runDir: '/r', inputs: ['x'] }, plan('/r', ['x']), T0, null)).toBeNull();
      expect(await ctx.store.listJobs({}, { limit: 10 })).toMatchObject({ items: [] });
      await ctx.store.upsertNode(node('n1', 0));
      await ctx.store.createPipeline(spec('a', { steps: [{ name: 'one', job: { type: 'noop' } }] }), T0);
      await ctx.store.createPipeline(spec('b', { steps: [{ name: 'one', job: { type: 'noop' } }] }), T0);
      const r1 = await ctx.store.createPipelineRun({ pipeline: 'a', runDir: '/r1', inputs: [] }, plan('/r1', []), T0, null);
      const r2 = await ctx.store.createPipelineRun({ pipeline: 'b', runDir: '/r2', inputs: [] }, plan('/r2', []), T0, null);
      const r3 = await ctx.store.createPipelineRun({ pipeline: 'a', runDir: '/r3', inputs: [] }, plan('/r3', []), T0, null);
      expect((await ctx.store.listPipelineRuns({ limit: 10 })).map((r) => r.id)).toEqual([r3!.id, r2!.id, r1!.id]);
      expect((await ctx.store.listPipelineRuns({ pipeline: 'a', limit: 10 })).map((r) => r.id)).toEqual([r3!.id, r1!.id]);
      expect((await ctx.store.listPipelineRuns({ before: r3!.id, limit: 1 })).map((r) => r.id)).toEqual([r2!.id]);

      const attempt = await start(ctx.store, r1!.jobs[0]!.jobId, 'n1', [], T0 + 1);
      await end(ctx.store, attempt, SUCCEEDED, T0 + 2);
      expect(await ctx.store.choosePipelineOutputs(r1!.id, [{ from: '/r1/steps/one/0/x', name: 'x' }])).toEqual([{ from: '/r1/steps/one/0/x', name: 'x' }]);
      // The first choice stands.
      expect(await ctx.store.choosePipelineOutputs(r1!.id, [{ from: '/r1/steps/one/0/x', name: 'x.run1' }])).toEqual([{ from: '/r1/steps/one/0/x', name: 'x' }]);
      expect(await ctx.store.endPipelineRun(r1!.id, { state: 'succeeded', reason: null, onFailureJobId: null }, T0 + 3)).toBe(true);
      expect(await ctx.store.endPipelineRun(r1!.id, { state: 'failed', reason: 'late', onFailureJobId: 9 }, T0 + 4)).toBe(false);
      expect(await ctx.store.getPipelineRun(r1!.id)).toMatchObject({ state: 'succeeded', reason: null, endedAt: T0 + 3, outputs: [{ name: 'x' }] });
      expect((await ctx.store.runningPipelineRuns()).map((r) => r.id)).toEqual([r2!.id, r3!.id]);
      expect(await ctx.store.countRunningPipelineRuns()).toEqual({ a: 1, b: 1 });
    });

    it('creates a pool step as tasks, the jobs after it later (advancePipelineRun), each unit once; a run key starts one run', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      await ctx.store.createPool(poolSpec('embed'), T0);
      const steps = [
        { name: 'infer', pool: { name: 'embed', params: { model: 'm1' } }, fanOut: true },
        { name: 'merge', job: { command: ['merge'] } },
        { name: 'report', job: { command: ['report'] }, fanOut: true },
      ];
      await ctx.store.createPipeline(spec('pooled', { steps }), T0);
      const inputs = ['a.csv', 'b.csv'];
      const layout = runLayout('/runs/p1');
      const first = (runId: number, s: ReturnType<typeof spec>) => unitsToCreate(planRun(s, runId, layout, inputs), { jobs: [], tasks: [] });
      const owner = { name: 'alice', tokenId: 'tok-1' };
      const run = (await ctx.store.createPipelineRun({ pipeline: 'pooled', runDir: '/runs/p1', inputs, idempotencyKey: 'msg-1' }, first, T0 + 1, owner))!;
      expect(run.jobs).toEqual([]);
      expect(run.tasks.map((t) => [t.step, t.lane, t.pool, t.state])).toEqual([
        [0, 0, 'embed', 'queued'],
        [0, 1, 'embed', 'queued'],
      ]);
      const [task] = await ctx.store.getTasks('embed', [run.tasks[1]!.taskId]);
      expect(task).toMatchObject({ idempotencyKey: `pipeline-run:${run.id}:0:1`, payload: { pipeline: 'pooled', run: run.id, step: 'infer', lane: 1, input: '/runs/p1/inputs/1/b.csv', outputDir: '/runs/p1/steps/infer/1', params: { model: 'm1' } } });

      // The same key again: the stored run, nothing new.
      const again = await ctx.store.createPipelineRun({ pipeline: 'pooled', runDir: '/runs/p2', inputs, idempotencyKey: 'msg-1' }, first, T0 + 2, owner);
      expect(again).toEqual(run);
      expect((await ctx.store.listPipelineRuns({ limit: 10 })).map((r) => r.id)).toEqual([run.id]);

      // The stage after the tasks (what the controller asks for once they succeeded): jobs owned by the run's owner.
      const plan = planRun(run.spec, run.id, layout, inputs);
      const later = plan.filter((u) => u.step > 0);
      const advanced = (await ctx.store.advancePipelineRun(run.id, later, T0 + 3))!;
      expect(advanced.jobs.map((j) => [j.step, j.lane, j.state])).toEqual([
        [1, 0, 'queued'],
        [2, 0, 'queued'],
        [2, 1, 'queued'],
      ]);
      const jobId = (r: PipelineRunDetail, step: number, lane: number) => r.jobs.find((j) => j.step === step && j.lane === lane)!.jobId;
      expect((await ctx.store.getJob(jobId(advanced, 2, 1)))!.spec.dependsOn).toEqual([jobId(advanced, 1, 0)]);
      expect((await ctx.store.getJob(jobId(advanced, 1, 0)))!.owner).toBe('alice');
      // Asked again (a new leader repeating the pass): nothing twice.
      expect(await ctx.store.advancePipelineRun(run.id, plan, T0 + 4)).toEqual(advanced);
      expect((await ctx.store.listTasks('embed', {}, { limit: 10 })).items).toHaveLength(2);
      expect((await ctx.store.runningPipelineRuns()).find((r) => r.id === run.id)).toEqual(advanced);
      await ctx.store.endPipelineRun(run.id, { state: 'cancelled', reason: 'test', onFailureJobId: null }, T0 + 5);
      expect(await ctx.store.advancePipelineRun(run.id, later, T0 + 6)).toBeNull();
    });

    it('lists runs ended before a time, oldest first, and deletes ended ones only, with their rows', async () => {
      await ctx.store.createPipeline(spec('a', { steps: [{ name: 'one', job: { type: 'noop' } }] }), T0);
      const start = async (dir: string) => (await ctx.store.createPipelineRun({ pipeline: 'a', runDir: dir, inputs: [] }, plan(dir, []), T0, null))!;
      const [r1, r2, r3] = [await start('/r1'), await start('/r2'), await start('/r3')];
      await ctx.store.endPipelineRun(r2.id, { state: 'failed', reason: 'x', onFailureJobId: null }, T0 + 10);
      await ctx.store.endPipelineRun(r1.id, { state: 'succeeded', reason: null, onFailureJobId: null }, T0 + 20);
      expect(await ctx.store.endedPipelineRunsBefore(T0 + 21, 10)).toEqual([{ id: r2.id, runDir: '/r2' }, { id: r1.id, runDir: '/r1' }]);
      expect(await ctx.store.endedPipelineRunsBefore(T0 + 20, 10)).toEqual([{ id: r2.id, runDir: '/r2' }]);
      expect(await ctx.store.endedPipelineRunsBefore(T0 + 21, 1)).toHaveLength(1);
      // A running run is never deleted, even when named.
      expect(await ctx.store.deletePipelineRuns([r1.id, r2.id, r3.id])).toBe(2);
      expect(await ctx.store.getPipelineRun(r1.id)).toBeNull();
      expect(await ctx.store.getPipelineRun(r3.id)).toMatchObject({ state: 'running', jobs: [{ step: 0 }] });
      expect((await ctx.store.listPipelineRuns({ limit: 10 })).map((r) => r.id)).toEqual([r3.id]);
    });

    it('stores nothing of a run whose pool step names a missing or stopped pool', async () => {
      await ctx.store.createPool(poolSpec('embed'), T0);
      await ctx.store.createPipeline(spec('pooled', { steps: [{ name: 'infer', pool: { name: 'embed' } }] }), T0);
      const first = (runId: number, s: ReturnType<typeof spec>) => planRun(s, runId, runLayout('/r'), []);
      await ctx.store.setPoolState(['embed'], 'stopped', T0 + 1);
      await expect(ctx.store.createPipelineRun({ pipeline: 'pooled', runDir: '/r', inputs: [] }, first, T0 + 2, null)).rejects.toMatchObject({ code: 'POOL_STOPPED' });
      await ctx.store.deletePool('embed', T0 + 3);
      await expect(ctx.store.createPipelineRun({ pipeline: 'pooled', runDir: '/r', inputs: [] }, first, T0 + 4, null)).rejects.toMatchObject({ code: 'POOL_NOT_FOUND' });
      expect(await ctx.store.listPipelineRuns({ limit: 10 })).toEqual([]);
    });
  });
}
