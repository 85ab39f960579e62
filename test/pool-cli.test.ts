import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolTask, PoolView } from '../src/sdk/client.js';
import { runCli, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';

/** A worker speaking the pool protocol: loads for MODEL_LOAD_MS, then answers {"op":"square","x":N} with {"y":N*N,...}. */
const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/pools/model-worker.mjs');

let gpuq: GpuqProcess;
let env: Record<string, string>;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 2 });
  env = { GPUQ_URL: gpuq.url };
});
afterAll(async () => {
  await gpuq.stop();
});

const square = (x: number) => JSON.stringify({ op: 'square', x });

describe('gpuq pool', () => {
  it('--help shows the subcommands with examples', async () => {
    const r = await runCli(['pool', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Examples:');
    for (const sub of ['create', 'ls', 'show', 'update', 'stop', 'start', 'evict', 'stop-all', 'delete', 'submit', 'task', 'tasks', 'replay']) expect(r.stdout).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
    const create = await runCli(['pool', 'create', '--help']);
    expect(create.stdout).toContain('--no-kill-on-oom');
  });

  it('refuses unknown flags and bad values before anything is created', async () => {
    const r = await runCli(['pool', 'create', 'nope', '--gpu', '1', '--', process.execPath, WORKER], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--gpu'");
    const bad = await runCli(['pool', 'create', 'nope', '--max-replicas', '0', '--', process.execPath, WORKER], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('maxReplicas');
    expect((await runCli(['pool', 'show', 'nope'], env)).code).toBe(4);
  });

  it('creates a pool, answers tasks through a warm replica, shows it, stops it and deletes it', async () => {
    const create = await runCli(['pool', 'create', 'sq', '--gpus', '1', '--max-replicas', '2', '--concurrency', '2', '-e', 'MODEL_LOAD_MS=300', '--', process.execPath, WORKER], env);
    expect(create.stderr).toBe('');
    expect(create.code).toBe(0);
    expect(create.stdout).toContain('created pool sq: 0..2 replicas, 1 GPU each');
    const again = await runCli(['pool', 'create', 'sq', '--', process.execPath, WORKER], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('POOL_EXISTS');

    const ls = await runCli(['pool', 'ls'], env);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^NAME\s+STATE\s+REPLICAS\s+GPUS\s+BACKLOG\s+RUNNING\s+TASKS\/S\s+COLD-START$/m);
    expect(ls.stdout).toMatch(/^sq\s+active\s+\d+\/\d+ \(max 2\)/m);
    const listed = JSON.parse((await runCli(['pool', 'ls', '--json'], env)).stdout) as { pools: PoolView[] };
    expect(listed.pools.find((p) => p.name === 'sq')?.spec).toMatchObject({ gpus: 1, maxReplicas: 2, concurrency: 2, command: [process.execPath, WORKER], env: { MODEL_LOAD_MS: '300' } });

    // The first task is a cold start: a replica is started, loads its model, then answers.
    const first = await runCli(['pool', 'submit', 'sq', '--payload', square(7), '--wait', '60'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect((JSON.parse(first.stdout) as { y: number }).y).toBe(49);

    const id = (await runCli(['pool', 'submit', 'sq', '--payload', square(3), '--key', 'three'], env)).stdout.trim();
    expect(id).toMatch(/^\d+$/);
    const task = await runCli(['pool', 'task', 'sq', id, '--wait', '60', '--json'], env);
    expect(task.code).toBe(0);
    const t = (JSON.parse(task.stdout) as { task: PoolTask; timedOut: boolean }).task;
    expect(t).toMatchObject({ id: Number(id), state: 'succeeded', idempotencyKey: 'three' });
    expect((t.result as { y: number }).y).toBe(9);
    const dup = await runCli(['pool', 'submit', 'sq', '--payload', square(3), '--key', 'three'], env);
    expect(dup.stdout.trim()).toBe(id);
    expect(dup.stderr).toContain('exists already');

    const batch = await runCli(['pool', 'submit', 'sq', '-f', '-', '--wait', '60', '--json'], env, [1, 2, 3, 4].map(square).join('\n'));
    expect(batch.code).toBe(0);
    const results = (JSON.parse(batch.stdout) as { tasks: PoolTask[] }).tasks.map((x) => (x.result as { y: number }).y);
    expect(results).toEqual([1, 4, 9, 16]);

    const show = await runCli(['pool', 'show', 'sq'], env);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('pool sq  [active]  generation 1');
    expect(show.stdout).toMatch(/cold start\s+accepted → ready \d+ ms → result \d+ ms \(task \d+, replica \d+\)/);
    expect(show.stdout).toMatch(/^JOB\s+STATE\s+NODE\s+GPUS\s+UPTIME\s+TASKS\s+END-REASON$/m);
    expect(show.stdout).toMatch(/^\d+\s+ready\s+\S+\s+[01]\s/m);

    const tasks = await runCli(['pool', 'tasks', 'sq', '--state', 'succeeded', '--json'], env);
    expect((JSON.parse(tasks.stdout) as { tasks: PoolTask[] }).tasks).toHaveLength(6); // 7, 3 and the four of the batch; the repeated key made none

    // A task the worker refuses for good: exit 1 with its error on stderr, into the pool's DLQ, and replayed from there.
    const failed = await runCli(['pool', 'submit', 'sq', '--payload', JSON.stringify({ op: 'fail', retryable: false }), '--wait', '60'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    const failedId = /task (\d+) failed: asked to fail/.exec(failed.stderr)?.[1];
    expect(failedId).toBeDefined();
    const dlq = await runCli(['pool', 'tasks', 'sq', '--dlq'], env);
    expect(dlq.stdout).toMatch(new RegExp(`^${failedId}\\s+failed \\(dlq\\)\\s+1/3\\s`, 'm'));
    const replay = await runCli(['pool', 'replay', 'sq', failedId!], env);
    expect(replay.stdout).toBe(`replayed 1 task(s): ${failedId}\n`);
    const replayed = await runCli(['pool', 'task', 'sq', failedId!, '--wait', '60'], env);
    expect(replayed.code).toBe(1);
    expect(replayed.stdout).toMatch(/attempts 2\/\d+/);
    expect(replayed.stdout).toContain('error: asked to fail');

    const stop = await runCli(['pool', 'stop', 'sq'], env);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain('stopped pool sq');
    const refused = await runCli(['pool', 'submit', 'sq', '--payload', square(5)], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('POOL_STOPPED');
    expect((await runCli(['pool', 'ls'], env)).stdout).toMatch(/^sq\s+stopped\s/m);

    const del = await runCli(['pool', 'delete', 'sq'], env);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain('deleted pool sq');
    const gone = await runCli(['pool', 'show', 'sq'], env);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toContain('POOL_NOT_FOUND');
    // Its replica jobs end: nothing of the pool keeps running.
    await until('the pool\'s replica jobs to end', async () => {
      const { jobs } = await gpuq.client.list({ labels: { 'gpuq.pool': 'sq' } });
      return jobs.length > 0 && jobs.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.state));
    });
  });
});
