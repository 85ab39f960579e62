import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PipelineRunDetail } from '../src/sdk/client.js';
import { GpuqApiError, GpuqClient } from '../src/sdk/client.js';
import { leakedAgents, startAgent } from './helpers/agent-process.js';
import { createToken, leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { metricValue } from './helpers/pools.js';
import { TestSchemas } from './helpers/postgres.js';

// Pipelines (ADR 0018) on a real `gpuq up` (SQLite, simulated GPUs): real shell steps reading and writing the
// run directory, real files published to an output directory, a real kill -9 of gpuq in the middle of a run.
const servers: GpuqProcess[] = [];
const schemas = new TestSchemas();
afterAll(async () => {
  for (const s of servers) await s.stop();
  expect(leakedServers()).toBe(0);
  expect(leakedAgents()).toBe(0);
  await schemas.dropAllAndEnd();
});

async function server(dataDir?: string): Promise<GpuqProcess> {
  const s = await startGpuq({ fakeGpus: 2, ...(dataDir ? { dataDir } : {}) });
  servers.push(s);
  return s;
}

/** Writes input files; returns their paths. */
function inputs(dir: string, files: Record<string, string>): string[] {
  return Object.entries(files).map(([name, text]) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  });
}

const ended = (s: GpuqProcess, id: number, timeoutMs = 60_000): Promise<PipelineRunDetail> =>
  until(`run ${id} to end`, async () => {
    const { run } = await s.client.getPipelineRun(id);
    return run.state === 'running' ? undefined : run;
  }, timeoutMs, 50);

/** CPU prep → GPU step on a simulated GPU → CPU post-process, each once per input file. */
const threeSteps = (name: string, outputDir: string, extra: object = {}) => ({
  name,
  outputDir,
  steps: [
    { name: 'prep', fanOut: true, job: { shell: 'tr a-z A-Z < "$GPUQ_STEP_INPUT" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$GPUQ_STEP_INPUT" .txt).up"' } },
    { name: 'infer', fanOut: true, job: { gpus: 1, shell: 'for f in "$GPUQ_STEP_INPUT_DIR"/*; do { cat "$f"; echo "gpu $CUDA_VISIBLE_DEVICES"; } > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f")"; done' } },
    { name: 'post', fanOut: true, job: { shell: 'for f in "$GPUQ_STEP_INPUT_DIR"/*; do sed "s/^/> /" "$f" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f" .up).out"; done' } },
  ],
  ...extra,
});

describe('pipelines', () => {
  it('runs CPU → GPU → CPU steps once per input, passes the files along, and publishes one output per input; a second run does not overwrite', async () => {
    const s = await server();
    const dir = tempDir('gpuq-pipe-');
    const out = path.join(dir, 'out');
    await s.client.createPipeline(threeSteps('three', out));
    const files = inputs(dir, { 'a.txt': 'hello a\n', 'b.txt': 'hello b\n', 'c.txt': 'hello c\n' });

    const { run } = await s.client.runPipeline('three', files.map((p) => ({ path: p })));
    expect(run.jobs).toHaveLength(9);
    // Ordinary jobs, visible to job listings by their labels.
    const listed = await s.client.list({ labels: { 'gpuq.pipeline.run': String(run.id) }, limit: 50 });
    expect(listed.jobs).toHaveLength(9);

    const done = await ended(s, run.id);
    expect(done.state).toBe('succeeded');
    expect(done.jobs.every((j) => j.state === 'succeeded')).toBe(true);
    expect(done.outputs!.map((o) => o.name)).toEqual(['a.out', 'b.out', 'c.out']);
    expect(readdirSync(out).sort()).toEqual(['a.out', 'b.out', 'c.out']);
    for (const x of ['a', 'b', 'c']) expect(readFileSync(path.join(out, `${x}.out`), 'utf8')).toMatch(new RegExp(`^> HELLO ${x.toUpperCase()}\\n> gpu [01]\\n$`));
    // The GPU step held a simulated GPU: its job says which.
    const infer = await s.client.get(done.jobs.find((j) => j.step === 1 && j.lane === 0)!.jobId);
    expect(infer.attempts[0]!.devices).toHaveLength(1);

    // Same names again: published beside the first outputs, marked with the run.
    const { run: again } = await s.client.runPipeline('three', [{ name: 'a.txt', data: Buffer.from('second\n').toString('base64') }]);
    expect((await ended(s, again.id)).outputs!.map((o) => o.name)).toEqual([`a.run${again.id}.out`]);
    expect(readFileSync(path.join(out, `a.run${again.id}.out`), 'utf8')).toMatch(/^> SECOND\n/);
    expect(readFileSync(path.join(out, 'a.out'), 'utf8')).toMatch(/^> HELLO A\n/);
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 120_000);

  it('fails a run whose step fails for good, naming the step and input; runs the on-failure job; publishes nothing; the failed job is in the DLQ', async () => {
    const s = servers[0]!;
    const dir = tempDir('gpuq-pipe-');
    const out = path.join(dir, 'out');
    const notes = path.join(dir, 'failure.txt');
    await s.client.createPipeline({
      name: 'picky',
      outputDir: out,
      steps: [
        { name: 'check', fanOut: true, job: { maxAttempts: 1, shell: 'grep -q ok "$GPUQ_STEP_INPUT" || { echo "not ok: $GPUQ_STEP_INPUT" >&2; exit 3; }; cp "$GPUQ_STEP_INPUT" "$GPUQ_STEP_OUTPUT_DIR"/' } },
        { name: 'merge', job: { shell: 'cat $(for d in $(echo "$GPUQ_STEP_INPUT_DIRS" | tr ":" " "); do echo "$d"/*; done) > "$GPUQ_STEP_OUTPUT_DIR/all.txt"' } },
      ],
      onFailure: { shell: `printf '%s\\n' "$GPUQ_PIPELINE_FAILURE" > ${notes}` },
    });
    const files = inputs(dir, { 'good.txt': 'ok\n', 'bad.txt': 'nope\n' });
    const { run } = await s.client.runPipeline('picky', files.map((p) => ({ path: p })));
    const done = await ended(s, run.id);
    expect(done.state).toBe('failed');
    const bad = done.jobs.find((j) => j.step === 0 && j.lane === 1)!;
    expect(done.reason).toBe(`step check (input 1), job ${bad.jobId}: ${bad.reason}`);
    expect(bad.reason).toMatch(/^exited with code 3/);
    // The good input's lane ran; the merge waiting for the bad one was failed by it.
    expect(done.jobs.find((j) => j.step === 0 && j.lane === 0)!.state).toBe('succeeded');
    expect(done.jobs.find((j) => j.step === 1)!.reason).toMatch(/^dependency job \d+ failed/);
    expect(done.outputs).toBeNull();
    expect(existsSync(out)).toBe(false);
    expect(done.onFailureJobId).not.toBeNull();
    const notified = await until('the on-failure job to succeed', async () => ((await s.client.get(done.onFailureJobId!)).job.state === 'succeeded' ? true : undefined));
    expect(notified).toBe(true);
    expect(readFileSync(notes, 'utf8').trim()).toBe(done.reason);
    const dlq = await s.client.list({ state: ['failed'], limit: 100 });
    expect(dlq.jobs.map((j) => j.id)).toContain(bad.jobId);
  }, 120_000);

  it('gpuq pipeline create refuses a bad definition naming the fields and stores nothing; create, run --wait and status work from a YAML file', async () => {
    const s = servers[0]!;
    const dir = tempDir('gpuq-pipe-');
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: bad\noutputDir: relative/out\nsteps:\n  - name: one\n    job: { command: [x], gpus: 99 }\n  - name: one\n    job: { shell: y, dependsOn: [1] }\n');
    const refused = await runCli(['pipeline', 'create', '-f', bad, '--url', s.url]);
    expect(refused.code).not.toBe(0);
    for (const field of ['outputDir', 'steps.0.job.gpus', 'steps.1.name', 'steps.1.job.dependsOn']) expect(refused.stderr).toContain(field);
    expect((await s.client.listPipelines()).pipelines.map((p) => p.name)).not.toContain('bad');
    await expect(s.client.getPipeline('bad')).rejects.toMatchObject({ code: 'PIPELINE_NOT_FOUND' });

    const good = path.join(dir, 'good.yaml');
    const out = path.join(dir, 'out');
    writeFileSync(good, `name: yaml-one\noutputDir: ${out}\nsteps:\n  - name: count\n    job:\n      shell: wc -l < "$GPUQ_STEP_INPUT_DIR/n.txt" > "$GPUQ_STEP_OUTPUT_DIR/count.txt"\n`);
    const created = await runCli(['pipeline', 'create', '-f', good, '--url', s.url]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('pipeline yaml-one created');
    const input = inputs(dir, { 'n.txt': '1\n2\n3\n' })[0]!;
    const ran = await runCli(['pipeline', 'run', 'yaml-one', '--input', input, '--wait', '--url', s.url]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toMatch(/run (\d+) of pipeline yaml-one: succeeded/);
    expect(readFileSync(path.join(out, 'count.txt'), 'utf8').trim()).toBe('3');
    const id = /run (\d+) of pipeline/.exec(ran.stdout)![1]!;
    const status = await runCli(['pipeline', 'status', id, '--url', s.url]);
    expect(status.stdout).toContain(`outputs in ${out}: count.txt`);
    // A run of a missing pipeline, an input the server cannot read: clear errors, nothing started.
    await expect(s.client.runPipeline('nope', [])).rejects.toMatchObject({ code: 'PIPELINE_NOT_FOUND' });
    const missing = await s.client.runPipeline('yaml-one', [{ path: path.join(dir, 'absent.txt') }]).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(GpuqApiError);
    expect((missing as GpuqApiError).message).toContain('inputs.0.path');
  }, 120_000);

  it('runs a step as tasks of a warm worker pool between job steps; a worker error fails the run naming the task, which is in the pool DLQ', async () => {
    const s = servers[0] ?? (await server());
    const dir = tempDir('gpuq-pipe-');
    const out = path.join(dir, 'out');
    const worker = path.resolve('examples/pools/pipeline_step_worker.py');
    const pooled = threeSteps('pooled', out);
    const steps = [pooled.steps[0]!, { name: 'infer', fanOut: true, pool: { name: 'upper', params: { tag: 'v1' } } }, pooled.steps[2]!];
    // The pool must exist: refused naming the field, nothing stored.
    await expect(s.client.createPipeline({ ...pooled, steps })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('steps.1.pool.name: pool "upper" does not exist') });
    expect((await s.client.listPipelines()).pipelines.map((p) => p.name)).not.toContain('pooled');
    await s.client.createPool({ name: 'upper', command: ['python3', worker], gpus: 1, maxReplicas: 2, maxAttempts: 2 });
    await s.client.createPipeline({ ...pooled, steps });

    const files = inputs(dir, { 'a.txt': 'hello a\n', 'b.txt': 'hello b\n', 'c.txt': 'hello c\n' });
    const { run } = await s.client.runPipeline('pooled', files.map((p) => ({ path: p })));
    // The jobs up to the pool step are created with the run; the tasks once a lane's job succeeded, the jobs after them once their task did.
    expect(run.jobs.map((j) => j.step)).toEqual([0, 0, 0]);
    expect(run.tasks).toEqual([]);
    const done = await ended(s, run.id, 90_000);
    expect(done.state, done.reason ?? '').toBe('succeeded');
    expect(done.tasks.map((t) => [t.step, t.lane, t.pool, t.state])).toEqual([0, 1, 2].map((lane) => [1, lane, 'upper', 'succeeded']));
    expect(done.jobs.filter((j) => j.step === 2).map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(readdirSync(out).sort()).toEqual(['a.out', 'b.out', 'c.out']);
    for (const x of ['a', 'b', 'c']) expect(readFileSync(path.join(out, `${x}.out`), 'utf8')).toMatch(new RegExp(`^> HELLO ${x.toUpperCase()}\\n> gpu [01] tag v1\\n$`));
    const { task } = await s.client.getTask('upper', done.tasks[1]!.taskId);
    expect(task).toMatchObject({ idempotencyKey: `pipeline-run:${run.id}:1:1`, result: { written: ['b.up'] }, payload: { run: run.id, step: 'infer', lane: 1, params: { tag: 'v1' } } });

    const { run: failing } = await s.client.runPipeline('pooled', [{ name: 'f.txt', data: Buffer.from('please FAIL\n').toString('base64') }]);
    const failed = await ended(s, failing.id, 60_000);
    expect(failed.state).toBe('failed');
    const bad = failed.tasks[0]!;
    expect(failed.reason).toBe(`step infer (input 0), task ${bad.taskId} of pool upper: f.up: the input asks to fail (not retryable)`);
    expect(failed.jobs.filter((j) => j.step === 2)).toEqual([]);
    expect(failed.outputs).toBeNull();
    const dlq = await s.client.listTasks('upper', { dlq: true });
    expect(dlq.tasks.map((t) => t.id)).toEqual([bad.taskId]);
  }, 150_000);

  it('survives kill -9 of gpuq in the middle of a run: the restarted server finishes it with exactly one output per input', async () => {
    const dataDir = tempDir('gpuq-pipe-data-');
    let s = await server(dataDir);
    const dir = tempDir('gpuq-pipe-');
    const out = path.join(dir, 'out');
    const slow = threeSteps('slow', out);
    slow.steps[1]!.job = { gpus: 1, shell: `sleep 1; ${slow.steps[1]!.job.shell}` };
    await s.client.createPipeline(slow);
    const files = inputs(dir, Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}.txt`, `file ${i}\n`])));
    const { run } = await s.client.runPipeline('slow', files.map((p) => ({ path: p })));
    await until('a GPU step to run', async () => ((await s.client.getPipelineRun(run.id)).run.jobs.some((j) => j.step === 1 && j.state === 'running') ? true : undefined));
    expect(metricValue(await (await fetch(`${s.url}/metrics`)).text(), 'gpuq_pipeline_runs_running', { pipeline: 'slow' })).toBe(1);
    await s.crash();
    s = await server(dataDir);
    const done = await ended(s, run.id, 90_000);
    expect(done.state).toBe('succeeded');
    expect(metricValue(await (await fetch(`${s.url}/metrics`)).text(), 'gpuq_pipeline_runs_running', { pipeline: 'slow' })).toBe(0);
    expect(readdirSync(out).sort()).toEqual(files.map((f) => path.basename(f, '.txt') + '.out').sort());
    for (let i = 0; i < 6; i++) expect(readFileSync(path.join(out, `f${i}.out`), 'utf8')).toMatch(new RegExp(`^> FILE ${i}\\n> gpu [01]\\n$`));
  }, 150_000);

  it('runs in cluster mode: a PostgreSQL control plane, the steps on a separate gpuq agent, the run followed by the leader', async () => {
    const { url: db } = await schemas.createForServer();
    const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
    const pipelinesDir = tempDir('gpuq-pipe-shared-');
    const s = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required', '--pipelines-dir', pipelinesDir] });
    servers.push(s);
    const agent = await startAgent({ server: s.url, token: agentToken, node: 'pipe-a', fakeGpus: 2 });
    try {
      const client = new GpuqClient(s.url, { token: admin });
      const dir = tempDir('gpuq-pipe-');
      const out = path.join(dir, 'out');
      await client.createPipeline(threeSteps('cluster', out));
      const files = inputs(dir, { 'x.txt': 'x\n', 'y.txt': 'y\n' });
      const { run } = await client.runPipeline('cluster', files.map((p) => ({ path: p })));
      expect(run.runDir.startsWith(pipelinesDir)).toBe(true);
      const done = await until(`run ${run.id} to end`, async () => {
        const r = (await client.getPipelineRun(run.id)).run;
        return r.state === 'running' ? undefined : r;
      }, 60_000, 50);
      expect(done.state).toBe('succeeded');
      expect(readdirSync(out).sort()).toEqual(['x.out', 'y.out']);
      const job = await client.get(done.jobs[0]!.jobId);
      expect(job.attempts[0]!.nodeId).toBe('pipe-a');
      expect(job.job.owner).toBe('root');

      // A directory trigger, watched by the leader of the PostgreSQL cluster.
      const inbox = path.join(dir, 'inbox');
      mkdirSync(inbox);
      await client.createTrigger({ name: 'cluster-in', pipeline: 'cluster', directory: inbox, complete: { mode: 'rename' }, pollMs: 50 });
      writeFileSync(path.join(dir, 'w.txt'), 'w\n');
      renameSync(path.join(dir, 'w.txt'), path.join(inbox, 'w.txt'));
      await until('w.out', () => readdirSync(out).includes('w.out') || undefined, 60_000, 50);
      expect(readFileSync(path.join(out, 'w.out'), 'utf8')).toMatch(/^> W\n> gpu [01]\n$/);
      await until('w.txt in done/', () => (existsSync(path.join(inbox, 'done', 'w.txt')) ? true : undefined), 30_000, 50);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
