/**
 * `gpuq risk run` through a real `gpuq up` with 4 simulated GPUs: shard jobs (CPU engines behind the
 * simulated GPUs) and a reduce job that depends on them, compared with the same run in one process.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/types.js';
import { runRiskCpu } from '../src/risk/cpu-engine.js';
import { validatePortfolio } from '../src/risk/portfolio.js';
import { runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

const portfolio = {
  assets: [
    { id: 'A', spot: 100, drift: 0.06, volatility: 0.25, position: 10 },
    { id: 'B', spot: 40, drift: 0.04, volatility: 0.4, position: -5 },
  ],
  correlation: [
    [1, 0.3],
    [0.3, 1],
  ],
  options: [{ asset: 'A', type: 'put', strike: 95, expiry: 0.5, position: 8 }],
  horizonDays: 10,
  steps: 10,
  confidenceLevels: [0.95, 0.99],
  paths: 400_000,
  seed: 5,
};

let gpuq: GpuqProcess;
let dir: string;
let file: string;

beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 4 });
  dir = tempDir();
  file = path.join(dir, 'book.json');
  writeFileSync(file, JSON.stringify(portfolio));
});
afterAll(() => gpuq.stop());

const risk = (args: string[]) => runCli(['risk', 'run', '--url', gpuq.url, '--run-dir', path.join(dir, `run-${Math.random().toString(36).slice(2)}`), ...args]);

/** The statistics of a run, without what says where it ran. */
const numbers = (r: Record<string, unknown>) => JSON.stringify({ ...r, engine: undefined, devices: undefined });

describe('gpuq risk run', () => {
  it('shards over the 4 GPUs, reduces after every shard ended, and equals the run in one process bit for bit', async () => {
    const r = await risk([file, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { runDir: string; blocks: number; shardJobs: number[]; reduceJob: number; report: { result: Record<string, unknown> & { engine: string }; shards: { engine: string }[]; closedFormChecks: { quantity: string; ok: boolean }[] } };
    expect(out.shardJobs).toHaveLength(4);
    // Each shard left its output and its final progress in the run directory.
    const progress = out.shardJobs.map((_, k) => JSON.parse(readFileSync(path.join(out.runDir, `shard-000${k}.progress`), 'utf8')) as { blocksDone: number; blocks: number });
    expect(progress.every((p) => p.blocksDone === p.blocks)).toBe(true);
    expect(progress.reduce((n, p) => n + p.blocks, 0)).toBe(out.blocks);
    const reference = await runRiskCpu(validatePortfolio(portfolio), { workers: 0 });
    expect(numbers(out.report.result)).toBe(numbers(reference as unknown as Record<string, unknown>));
    expect(out.report.result.engine).toBe('cpu');
    expect(out.report.shards.map((s) => s.engine)).toEqual(['cpu', 'cpu', 'cpu', 'cpu']);
    expect(out.report.closedFormChecks.map((c) => c.quantity)).toEqual([]); // options valued past the horizon: no closed form

    const shards = await Promise.all(out.shardJobs.map(async (id) => (await gpuq.client.get(id)).job));
    const reduce = (await gpuq.client.get(out.reduceJob)).job;
    expect(shards.map((j) => j.gpus)).toEqual([1, 1, 1, 1]);
    expect(shards.every((j) => j.state === 'succeeded')).toBe(true);
    expect(reduce.spec.dependsOn).toEqual(out.shardJobs);
    expect(reduce.startedAt!).toBeGreaterThanOrEqual(Math.max(...shards.map((j) => j.finishedAt!)));

    // The report is the reduce job's stored result, with its artifacts.
    const stored = await gpuq.client.request<{ result: unknown; artifacts: { name: string; bytes: number }[] }>('GET', `/v1/jobs/${out.reduceJob}/result`);
    expect(stored.result).toEqual(out.report);
    expect(stored.artifacts.map((a) => a.name).sort()).toEqual(expect.arrayContaining(['histogram.csv', 'report.txt', 'risk-report.json']));
  });

  it('prints VaR and ES with their errors, and the closed-form check of a single stock', async () => {
    const single = path.join(dir, 'single.json');
    writeFileSync(single, JSON.stringify({ assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }], horizonDays: 10, steps: 10, confidenceLevels: [0.99], paths: 1_000_000, seed: 1 }));
    const r = await risk([single, '--shards', '3']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/3 shards, one GPU each, over 1 node/);
    expect(r.stdout).toMatch(/^99%\s+10\.\d+\s+0\.0\d+/m);
    expect(r.stdout).toMatch(/VaR 99%\s+10\.\d+\s+10\.767\d\s+\d\.\d+%\s+-?\d\.\d+\s+ok/);
    expect(r.stdout).toMatch(/ES 99%\s+12\.\d+\s+12\.2499\s/);
    expect(r.stdout).toMatch(/done in \d+\.\d\d s from submit to report: \d+\.\d M path-steps\/s end to end/);
  });

  it('--no-wait submits and exits; gpuq risk report prints the report once the run is done', async () => {
    const r = await risk([file, '--no-wait', '--json', '--paths', '100000']);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as { runId: string; shardJobs: number[]; reduceJob: number };
    const listed = await runCli(['ls', '--url', gpuq.url, '--label', `risk-run=${run.runId}`, '--json']);
    expect((JSON.parse(listed.stdout) as { jobs: { id: number }[] }).jobs.map((j) => j.id).sort((a, b) => a - b)).toEqual([...run.shardJobs, run.reduceJob]);
    expect((await runCli(['wait', '--url', gpuq.url, String(run.reduceJob)])).code).toBe(0);
    const rep = await runCli(['risk', 'report', '--url', gpuq.url, String(run.reduceJob)]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toContain(`risk run ${run.runId}: 2 assets + 1 option`);
    expect(rep.stdout).toMatch(/^99%\s+\d+\.\d+/m);
    const notReduce = await runCli(['risk', 'report', '--url', gpuq.url, String(run.shardJobs[0])]);
    expect(notReduce.code).toBe(1);
    expect(notReduce.stderr).toMatch(/left no risk report: is it a risk run's reduce job\?/);
  });

  it('a malformed portfolio gets a clear error and starts no job', async () => {
    const before = (await gpuq.client.list({ limit: 1000 })).jobs.length;
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...portfolio, correlation: [[1, 1.5], [1.5, 1]], assets: [portfolio.assets[0], { ...portfolio.assets[1], volatility: -0.1 }] }));
    const r = await risk([bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/assets\.1\.volatility/);
    expect(r.stderr).toMatch(/correlation/);
    const nan = await risk([file, '--paths', 'many']);
    expect(nan.code).toBe(2);
    expect(nan.stderr).toMatch(/--paths must be an integer/);
    expect((await gpuq.client.list({ limit: 1000 })).jobs.length).toBe(before);
  });

  it('a shard killed mid-run is retried alone, and the result does not change', async () => {
    const long = { ...portfolio, steps: 100, paths: 2_000_000 };
    const longFile = path.join(dir, 'long.json');
    writeFileSync(longFile, JSON.stringify(long));
    const running = risk([longFile, '--json']);
    // The first shard's process, once it runs: kill it as a crash would.
    const victim = await until('a running shard attempt with a pid', async () => {
      const jobs = (await gpuq.client.list({ state: ['running'], limit: 100 })).jobs.filter((j) => j.name.includes('-shard-'));
      for (const j of jobs) {
        const a = (await gpuq.client.get(j.id)).attempts.find((x) => x.state === 'running' && x.pid !== null);
        if (a) return { job: j.id, pid: a.pid! };
      }
      return undefined;
    }, 60_000, 10);
    process.kill(victim.pid, 'SIGKILL');
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { shardJobs: number[]; report: { result: Record<string, unknown> } };
    const shards: Job[] = await Promise.all(out.shardJobs.map(async (id) => (await gpuq.client.get(id)).job));
    expect(shards.find((j) => j.id === victim.job)!.attempts).toBe(2);
    expect(shards.filter((j) => j.id !== victim.job).map((j) => j.attempts)).toEqual([1, 1, 1]);
    const reference = await runRiskCpu(validatePortfolio(long), { workers: 0 });
    expect(numbers(out.report.result)).toBe(numbers(reference as unknown as Record<string, unknown>));
  }, 120_000);

  it('a shard that fails for good fails the reduce with its reason, and the CLI says which and why', async () => {
    // --engine cuda on simulated GPUs: every shard fails (no CUDA device), three attempts each.
    const r = await risk([file, '--engine', 'cuda', '--shards', '2', '--paths', '20000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reduce job \d+ failed \(dependency job \d+/);
    expect(r.stderr).toMatch(/shard job \d+ failed/);
    const shardId = Number(/shard job (\d+) failed/.exec(r.stderr)![1]);
    const shard = (await gpuq.client.get(shardId)).job;
    expect(shard.attempts).toBe(3);
    expect(await gpuq.client.logs(shardId)).toMatch(/CUDA engine was asked for, but/);
  }, 60_000);
});
