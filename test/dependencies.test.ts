import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { GpuqApiError } from '../src/sdk/client.js';
import { runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

// Job dependencies end to end: a real `gpuq up`, real jobs, real HTTP and the real CLI.
let gpuq: GpuqProcess;
let env: Record<string, string>;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 2 });
  env = { GPUQ_URL: gpuq.url };
});
afterAll(async () => {
  await gpuq.stop();
});

const fast = { initialSeconds: 0.05, maxSeconds: 0.1, multiplier: 2 };

async function finish(...ids: number[]) {
  const { jobs, timedOut } = await waitForJobs(gpuq.client, ids, Date.now() + 30_000);
  expect(timedOut).toBe(false);
  return jobs;
}

describe('job dependencies', () => {
  it('runs a chain in order: each job starts after the one it depends on has ended, and says what it waits for meanwhile', async () => {
    const dir = tempDir('gpuq-deps-');
    const go = path.join(dir, 'go');
    const { job: a } = await gpuq.client.submit({ name: 'a', shell: `while [ ! -f ${go} ]; do sleep 0.02; done; echo a` });
    const { job: b } = await gpuq.client.submit({ name: 'b', shell: 'echo b', dependsOn: [a.id] });
    // Through the CLI: --after.
    const sub = await runCli(['submit', '--name', 'c', '--after', String(b.id), '--', 'true'], env);
    expect(sub.code).toBe(0);
    const c = Number(sub.stdout.trim());

    await until('a to run', async () => (await gpuq.client.get(a.id)).job.state === 'running');
    const waitingB = await gpuq.client.get(b.id);
    expect(waitingB).toMatchObject({ job: { state: 'queued' }, waitingOn: [a.id], waiting: `waiting for job ${a.id} (running) to succeed` });
    expect(waitingB.dependencies).toEqual([{ jobId: a.id, state: 'running', met: false }]);
    const show = await runCli(['show', String(c)], env);
    expect(show.stdout).toContain(`waiting waiting for job ${b.id} (queued) to succeed`);
    expect(show.stdout).toContain(`after   ${b.id} (queued)`);

    writeFileSync(go, '');
    const jobs = await finish(a.id, b.id, c);
    expect(jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    const [da, db, dc] = await Promise.all([a.id, b.id, c].map((id) => gpuq.client.get(id)));
    // From the records: each started after the one before it ended.
    expect(db!.attempts[0]!.startedAt!).toBeGreaterThanOrEqual(da!.attempts[0]!.endedAt!);
    expect(dc!.attempts[0]!.startedAt!).toBeGreaterThanOrEqual(db!.attempts[0]!.endedAt!);
    expect(db!.waiting).toBeNull();
    expect(db!.dependencies).toEqual([{ jobId: a.id, state: 'succeeded', met: true }]);
  });

  it('fails a job whose dependency fails for good (after its retries), with the reason, and the jobs after it', async () => {
    const { job: a } = await gpuq.client.submit({ name: 'flaky', shell: 'exit 3', maxAttempts: 3, backoff: fast });
    const { jobs: [b, c] } = await gpuq.client.submitBatch([{ type: 'noop', queue: 'after-flaky', dependsOn: [a.id] }, { shell: 'true', maxAttempts: 1 }]);
    const { job: d } = await gpuq.client.submit({ type: 'noop', queue: 'after-flaky', dependsOn: [b!.id, c!.id] });
    const [fa, fb, , fd] = await finish(a.id, b!.id, c!.id, d.id);
    expect(fa).toMatchObject({ state: 'failed', attempts: 3 });
    const reasonB = `dependency job ${a.id} failed: exited with code 3; gave up after 3 attempt(s)`;
    expect(fb).toMatchObject({ state: 'failed', inDlq: true, attempts: 0, reason: reasonB });
    expect(fd).toMatchObject({ state: 'failed', reason: `dependency job ${b!.id} failed: ${reasonB}` });
    const detail = await gpuq.client.get(b!.id);
    expect(detail.attempts).toEqual([]);
    expect(detail.events.map((e) => `${e.from ?? '∅'}→${e.to}`)).toEqual(['∅→queued', 'queued→failed']);
    // The dependency ran all its attempts before the dependent failed.
    expect(detail.events[1]!.at).toBeGreaterThanOrEqual((await gpuq.client.get(a.id)).attempts[2]!.endedAt!);
    // Jobs failed by a dependency count as finished, failed, in their own queue.
    const metrics = (await (await fetch(`${gpuq.url}/metrics`)).text()).split('\n');
    expect(metrics.find((l) => l.startsWith('gpuq_jobs_finished_total{') && l.includes('queue="after-flaky"') && l.includes('outcome="failed"'))).toMatch(/ 2$/);
    // Replaying the dependent while its dependency is still failed fails it again at once.
    expect(await gpuq.client.replay({ ids: [b!.id] })).toEqual({ replayed: 1, ids: [b!.id], failedAgain: [b!.id] });
    const again = (await (await fetch(`${gpuq.url}/metrics`)).text()).split('\n');
    expect(again.find((l) => l.startsWith('gpuq_jobs_finished_total{') && l.includes('queue="after-flaky"') && l.includes('outcome="failed"'))).toMatch(/ 3$/);
    expect((await gpuq.client.get(b!.id)).job).toMatchObject({ state: 'failed', inDlq: true, reason: reasonB });
    // A new job on the failed dependency is created failed at once; wait exits 1.
    const late = await runCli(['submit', '--after', String(a.id), '--', 'true'], env);
    expect(late.code).toBe(0);
    expect((await runCli(['wait', late.stdout.trim()], env)).code).toBe(1);
  });

  it('cascades a cancel to the jobs waiting for the cancelled one', async () => {
    const { job: a } = await gpuq.client.submit({ name: 'long', command: ['sleep', '100'] });
    const { job: b } = await gpuq.client.submit({ type: 'noop', dependsOn: [a.id] });
    const { job: c } = await gpuq.client.submit({ type: 'noop', dependsOn: [b.id] });
    await until('a to run', async () => (await gpuq.client.get(a.id)).job.state === 'running');
    const cli = await runCli(['cancel', String(a.id), '--reason', 'no longer needed'], env);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain(`cancelled ${a.id}; 2 job(s) waiting for it failed: ${b.id} ${c.id}`);
    expect((await gpuq.client.get(b.id)).job).toMatchObject({ state: 'failed', reason: `dependency job ${a.id} was cancelled: no longer needed` });
    expect((await gpuq.client.get(c.id)).job.state).toBe('failed');
    await finish(a.id);
  });

  it('refuses a missing dependency with 400, naming the field, and creates nothing of the batch', async () => {
    const before = (await gpuq.client.list({ limit: 1000 })).jobs.length;
    const missing = 987_654_321;
    const err = await gpuq.client.submitBatch([{ type: 'noop' }, { type: 'noop', dependsOn: [missing] }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GpuqApiError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED', issues: [{ path: 'jobs.1.dependsOn.0', message: expect.stringContaining(`job ${missing} does not exist`) }] });
    expect((await gpuq.client.list({ limit: 1000 })).jobs.length).toBe(before);
    const cli = await runCli(['submit', '--after', `1,${missing}`, '--', 'true'], env);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain('dependsOn.1');
    expect((await runCli(['submit', '--after', 'x', '--', 'true'], env)).code).toBe(2);
    expect(existsSync(gpuq.dataDir)).toBe(true);
  });
});
