import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_NAMES } from './helpers/command-names.js';
import { runCli, startGpuq, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess;
let env: Record<string, string>;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 2 });
  env = { GPUQ_URL: gpuq.url };
});
afterAll(async () => {
  await gpuq.stop();
});

describe('gpuq CLI', () => {
  it.each(COMMAND_NAMES)('%s --help shows an example and exits 0', async (name) => {
    const r = await runCli([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`gpuq ${name}`);
  });

  it('submits a GPU job, waits for it, shows it and prints its log', async () => {
    const sub = await runCli(['submit', '--gpus', '2', '--name', 'hello', '-e', 'GREETING=hi', '--', 'sh', '-c', 'echo "$GREETING on $CUDA_VISIBLE_DEVICES"'], env);
    expect(sub.code).toBe(0);
    const id = sub.stdout.trim();
    expect(id).toMatch(/^\d+$/);
    const wait = await runCli(['wait', id], env);
    expect(wait.code).toBe(0);
    expect(wait.stdout).toMatch(new RegExp(`${id}\\s+hello\\s+default\\s+succeeded`));
    const logs = await runCli(['logs', id], env);
    expect(logs.stdout).toBe('hi on 0,1\n');
    const show = await runCli(['show', id], env);
    expect(show.stdout).toContain('queued → assigned');
    expect(show.stdout).toContain('running → succeeded');
    const json = JSON.parse((await runCli(['show', id, '--json'], env)).stdout) as { attempts: { devices: number[] }[] };
    expect(json.attempts[0]!.devices).toEqual([0, 1]);
    const ls = await runCli(['ls', '--state', 'succeeded', '--json'], env);
    expect((JSON.parse(ls.stdout) as { jobs: { id: number }[] }).jobs.map((j) => j.id)).toContain(Number(id));
  });

  it('follows a log until the job ends', async () => {
    const id = (await runCli(['submit', '--shell', 'for i in 1 2 3; do echo line $i; sleep 0.1; done'], env)).stdout.trim();
    const r = await runCli(['logs', '-f', id], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('line 1\nline 2\nline 3\n');
  });

  it('exits 1 from wait when a job fails, and lists it in the DLQ; replay runs it again', async () => {
    const id = (await runCli(['submit', '--max-attempts', '1', '--', 'false'], env)).stdout.trim();
    expect((await runCli(['wait', id], env)).code).toBe(1);
    const dlq = await runCli(['dlq', 'ls'], env);
    expect(dlq.stdout).toMatch(new RegExp(`^${id}\\s+false\\s+default\\s+failed \\(dlq\\)`, 'm'));
    const replay = await runCli(['dlq', 'replay', id], env);
    expect(replay.stdout).toContain('replayed 1 job(s)');
    expect((await runCli(['wait', id], env)).code).toBe(1);
    expect(JSON.parse((await runCli(['show', id, '--json'], env)).stdout).job.attempts).toBe(2);
  });

  it('cancels a job and a whole queue', async () => {
    const a = (await runCli(['submit', '-q', 'batch', '--', 'sleep', '100'], env)).stdout.trim();
    const b = (await runCli(['submit', '-q', 'batch', '--', 'sleep', '100'], env)).stdout.trim();
    const c = (await runCli(['submit', '-q', 'other', '--', 'sleep', '100'], env)).stdout.trim();
    const one = await runCli(['cancel', c], env);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain(`cancelled ${c}`);
    const q = await runCli(['cancel', '--queue', 'batch'], env);
    expect(q.stdout).toContain('cancelled 2 job(s) in queue batch');
    for (const id of [a, b, c]) expect(JSON.parse((await runCli(['show', id, '--json'], env)).stdout).job.state).toBe('cancelled');
    expect((await runCli(['cancel', c], env)).code).toBe(1);
  });

  it('shows nodes with their simulated GPUs marked', async () => {
    const r = await runCli(['nodes'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.match(/\[SIMULATED\]/g)).toHaveLength(2);
  });

  it('drains (probe then fails with 5) and resumes (probe exits 0)', async () => {
    expect((await runCli(['drain'], env)).stdout).toContain('draining');
    const probe = await runCli(['probe', '--timeout', '5'], env);
    expect(probe.code).toBe(5);
    expect(probe.stderr).toContain('draining');
    expect((await runCli(['submit', '--', 'true'], env)).code).toBe(5);
    expect((await runCli(['resume'], env)).stdout).toContain('resumed');
    const ok = await runCli(['probe', '--timeout', '5'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/probe ok: job \d+ succeeded end to end/);
  });

  it('maps bad input, unknown jobs and an unreachable server to exit codes with messages', async () => {
    const bad = await runCli(['submit', '--gpus', '-1', '--', 'true'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('gpus');
    expect((await runCli(['submit', '--gpus', '3', '--', 'true'], env)).stderr).toMatch(/3 GPUs/);
    expect((await runCli(['show', 'abc'], env)).code).toBe(2);
    const missing = await runCli(['show', '987654'], env);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('not found');
    const down = await runCli(['ls'], { GPUQ_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('cannot reach gpuq');
    expect((await runCli(['no-such-command'])).code).toBe(2);
  });

  it('submits specs from a file or stdin', async () => {
    const r = await runCli(['submit', '--file', '-', '--json'], env, JSON.stringify([{ type: 'noop' }, { type: 'noop', idempotencyKey: 'k1' }, { type: 'noop', idempotencyKey: 'k1' }]));
    expect(r.code).toBe(0);
    const jobs = (JSON.parse(r.stdout) as { jobs: { id: number; created: boolean }[] }).jobs;
    expect(jobs.map((j) => j.created)).toEqual([true, true, false]);
    expect(jobs[2]!.id).toBe(jobs[1]!.id);
  });
});
