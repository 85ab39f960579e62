import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

// Directory triggers (ADR 0018) on a real `gpuq up` (SQLite, simulated GPUs): real files dropped into a real
// directory, some written slowly in pieces, real pipeline jobs, and kill -9 of gpuq in the middle.
const servers: GpuqProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  expect(leakedServers()).toBe(0);
});

async function server(dataDir?: string): Promise<GpuqProcess> {
  const s = await startGpuq({ fakeGpus: 2, ...(dataDir ? { dataDir } : {}) });
  servers.push(s);
  return s;
}

/** CPU prep → GPU step → CPU post, each file its own run: the output is the whole input, upper-cased, with the GPU's line. */
const threeSteps = (name: string, outputDir: string, flag = '/nonexistent') => ({
  name,
  outputDir,
  steps: [
    { name: 'prep', fanOut: true, job: { maxAttempts: 1, shell: `test ! -e ${flag} || { echo "broken: ${flag} exists" >&2; exit 4; }; tr a-z A-Z < "$GPUQ_STEP_INPUT" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$GPUQ_STEP_INPUT" .txt).up"` } },
    { name: 'infer', fanOut: true, job: { gpus: 1, shell: 'for f in "$GPUQ_STEP_INPUT_DIR"/*; do { cat "$f"; echo "gpu $CUDA_VISIBLE_DEVICES"; } > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f")"; done' } },
    { name: 'post', fanOut: true, job: { shell: 'for f in "$GPUQ_STEP_INPUT_DIR"/*; do cp "$f" "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f" .up).out"; done' } },
  ],
});

const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('directory triggers', () => {
  it('200 files, some written slowly in pieces, kill -9 in the middle: exactly one run and one whole output per file', async () => {
    const dataDir = tempDir('gpuq-trig-data-');
    let s = await server(dataDir);
    const dir = tempDir('gpuq-trig-');
    const inbox = path.join(dir, 'inbox');
    const out = path.join(dir, 'out');
    mkdirSync(inbox);
    await s.client.createPipeline(threeSteps('files', out));
    await s.client.createTrigger({ name: 'inbox', pipeline: 'files', directory: inbox, complete: { mode: 'settle', settleMs: 400 }, pollMs: 50 });

    // Five slow writers append a line every 100 ms for about 1.5 s: a claim before the end would lose lines.
    const expected = new Map<string, string>();
    const slow = Array.from({ length: 5 }, (_, i) => `slow${i}.txt`);
    const writers = slow.map(async (name) => {
      let text = '';
      for (let k = 0; k < 15; k++) {
        const line = `${name} part ${k}\n`;
        appendFileSync(path.join(inbox, name), line);
        text += line;
        await new Promise((r) => setTimeout(r, 100));
      }
      expected.set(name, text);
    });
    // A temporary file is ignored; 195 files are moved in whole.
    writeFileSync(path.join(inbox, 'upload.tmp'), 'not yet\n');
    for (let i = 0; i < 195; i++) {
      const name = `f${String(i).padStart(3, '0')}.txt`;
      writeFileSync(path.join(dir, name), `file ${i}\n`);
      renameSync(path.join(dir, name), path.join(inbox, name));
      expected.set(name, `file ${i}\n`);
    }
    await Promise.all(writers);

    await until('50 outputs', () => listing(out).length >= 50 || undefined, 120_000, 50);
    await s.crash();
    s = await server(dataDir);
    await until('200 outputs', () => listing(out).length >= 200 || undefined, 180_000, 100);
    await until('every claim settled', () => listing(path.join(inbox, 'done')).length === 200 || undefined, 60_000, 100);

    expect(listing(out)).toEqual([...expected.keys()].map((n) => n.replace(/\.txt$/, '.out')).sort());
    for (const [name, text] of expected) expect(readFileSync(path.join(out, name.replace(/\.txt$/, '.out')), 'utf8')).toMatch(new RegExp(`^${text.toUpperCase().replace(/\n/g, '\\n')}gpu [01]\\n$`));
    // Exactly one run per file, all succeeded; the ignored file is where it was; nothing left in .processing.
    const runs = (await s.client.listPipelineRuns({ pipeline: 'files', limit: 1000 })).runs;
    expect(runs).toHaveLength(200);
    expect(runs.every((r) => r.state === 'succeeded')).toBe(true);
    expect(new Set(runs.map((r) => r.inputs[0])).size).toBe(200);
    expect(listing(inbox).filter((n) => !['done', 'failed', '.processing'].includes(n))).toEqual(['upload.tmp']);
    expect(listing(path.join(inbox, '.processing'))).toEqual([]);
  }, 400_000);

  it('a file whose run fails goes to failed/ with its reason and its job to the DLQ; retry runs it again; pause claims nothing until resume', async () => {
    const s = servers.at(-1) ?? (await server());
    const dir = tempDir('gpuq-trig-');
    const inbox = path.join(dir, 'inbox');
    const out = path.join(dir, 'out');
    const flag = path.join(dir, 'broken');
    mkdirSync(inbox);
    writeFileSync(flag, '');
    await s.client.createPipeline(threeSteps('flaky', out, flag));
    await s.client.createTrigger({ name: 'flaky-in', pipeline: 'flaky', directory: inbox, complete: { mode: 'marker' }, pollMs: 50 });

    writeFileSync(path.join(inbox, 'x.txt'), 'x\n');
    writeFileSync(path.join(inbox, 'x.txt.done'), '');
    const reasonFile = path.join(inbox, 'failed', 'x.txt.reason.txt');
    await until('x.txt in failed/', () => existsSync(reasonFile) || undefined, 60_000, 50);
    expect(existsSync(path.join(inbox, 'failed', 'x.txt'))).toBe(true);
    expect(existsSync(path.join(inbox, 'x.txt.done'))).toBe(false);
    const reason = readFileSync(reasonFile, 'utf8');
    expect(reason).toMatch(/^run \d+ of pipeline flaky failed: step prep \(input 0\), job (\d+): exited with code 4/);
    const jobId = Number(/job (\d+):/.exec(reason)![1]);
    expect((await s.client.list({ state: ['failed'], limit: 1000 })).jobs.map((j) => j.id)).toContain(jobId);
    expect(listing(out)).toEqual([]);

    // Paused: a new file is not claimed. Another trigger, watched in the same passes after it (triggers go in name
    // order), claims its file: once that file has its run, the paused trigger's directory was passed over.
    const other = path.join(dir, 'other');
    mkdirSync(other);
    await s.client.createTrigger({ name: 'other-in', pipeline: 'flaky', directory: other, complete: { mode: 'rename' }, pollMs: 50 });
    const paused = await runCli(['trigger', 'pause', 'flaky-in', '--url', s.url]);
    expect(paused.code, paused.stderr).toBe(0);
    expect((await s.client.listTriggers()).triggers.find((t) => t.name === 'flaky-in')!.paused).toBe(true);
    rmSync(flag);
    writeFileSync(path.join(inbox, 'y.txt'), 'y\n');
    writeFileSync(path.join(inbox, 'y.txt.done'), '');
    writeFileSync(path.join(other, 'z.txt'), 'z\n');
    await until('z.txt claimed', async () => (await s.client.listPipelineRuns({ pipeline: 'flaky' })).runs.some((r) => r.inputs[0] === 'z.txt') || undefined, 30_000, 50);
    expect(existsSync(path.join(inbox, 'y.txt'))).toBe(true);
    expect((await s.client.listPipelineRuns({ pipeline: 'flaky' })).runs.map((r) => r.inputs[0]).sort()).toEqual(['x.txt', 'z.txt']);

    // Resume, and retry the failed file: both run and succeed.
    expect((await runCli(['trigger', 'resume', '--all', '--url', s.url])).code).toBe(0);
    const retried = await runCli(['trigger', 'retry', 'flaky-in', 'x.txt', '--url', s.url]);
    expect(retried.code, retried.stderr).toBe(0);
    await until('three outputs', () => listing(out).length === 3 || undefined, 60_000, 50);
    expect(listing(out)).toEqual(['x.out', 'y.out', 'z.out']);
    expect(existsSync(reasonFile)).toBe(false);
    await until('both settled in done/', () => listing(path.join(inbox, 'done')).length === 2 || undefined, 30_000, 50);
    const audit = await runCli(['audit', '--url', s.url, '--json']);
    for (const action of ['triggers.create', 'triggers.pause', 'triggers.resume', 'triggers.retry']) expect(audit.stdout).toContain(action);
  }, 180_000);

  it('refuses bad trigger settings naming the field, and stores nothing', async () => {
    const s = servers.at(-1) ?? (await server());
    await s.client.createPipeline({ name: 'checked', outputDir: tempDir('gpuq-trig-'), steps: [{ name: 'one', job: { type: 'noop' } }] });
    const bad = await s.client.createTrigger({ name: 'Bad', pipeline: 'checked', directory: 'rel', complete: { mode: 'eventually' }, pollMs: 1 } as never).catch((e: { message: string }) => e);
    for (const field of ['name', 'directory', 'complete', 'pollMs']) expect((bad as Error).message).toContain(field);
    await expect(s.client.createTrigger({ name: 'ok-name', pipeline: 'nope', directory: '/tmp' })).rejects.toMatchObject({ code: 'PIPELINE_NOT_FOUND' });
    await expect(s.client.createTrigger({ name: 'ok-name', pipeline: 'checked', directory: '/nonexistent/dir' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await s.client.listTriggers()).triggers.map((t) => t.name)).not.toContain('ok-name');
  });
});
