import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { isAlive, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 1 });
});
afterAll(async () => {
  await gpuq.stop();
});

/** A job whose shell forks a grandchild in the same group, one that escapes into its own session, then waits. */
function treeScript(dir: string): string {
  return `sleep 1000 & echo $! > ${dir}/child; setsid sleep 1001 & echo $! > ${dir}/escaped; echo $$ > ${dir}/shell; trap '' TERM; wait`;
}

async function pidsWritten(dir: string): Promise<number[]> {
  return until('the job to write its pids', () => {
    try {
      return ['shell', 'child', 'escaped'].map((f) => Number(readFileSync(path.join(dir, f), 'utf8')));
    } catch {
      return undefined;
    }
  });
}

describe('timeout and cancel end the whole process tree', () => {
  it('a timeout kills the job, its forked grandchild and an escaped one, even if the job ignores SIGTERM', async () => {
    const dir = tempDir('gpuq-tree-');
    const { job } = await gpuq.client.submit({ name: 'slow', shell: treeScript(dir), gpus: 1, timeoutSeconds: 1, maxAttempts: 1 });
    const pids = await pidsWritten(dir);
    expect(pids.every(isAlive)).toBe(true);
    const { jobs } = await waitForJobs(gpuq.client, [job.id], Date.now() + 30_000);
    expect(jobs[0]!.state).toBe('failed');
    const { attempts } = await gpuq.client.get(job.id);
    expect(attempts[0]!.state).toBe('timed_out');
    expect(attempts[0]!.reason).toMatch(/timed out/);
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    // The GPU is free again: a new GPU job runs.
    const next = await gpuq.client.submit({ type: 'exec', command: ['true'], gpus: 1 });
    expect((await waitForJobs(gpuq.client, [next.job.id], Date.now() + 10_000)).jobs[0]!.state).toBe('succeeded');
  });

  it('cancel kills the whole tree and the job ends cancelled', async () => {
    const dir = tempDir('gpuq-tree-');
    const { job } = await gpuq.client.submit({ name: 'cancel-me', shell: treeScript(dir), gpus: 1 });
    const pids = await pidsWritten(dir);
    const res = await gpuq.client.cancel(job.id, 'test');
    expect(res.cancelled).toBe(true);
    expect(res.job.state).toBe('cancelled');
    // The attempt ends once its processes are gone.
    const attempt = await until('the attempt to end', async () => {
      const a = (await gpuq.client.get(job.id)).attempts[0]!;
      return a.endedAt !== null ? a : undefined;
    });
    expect(attempt.state).toBe('cancelled');
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect((await gpuq.client.get(job.id)).job.state).toBe('cancelled');
  });

  it('cancelling a queued job ends it without running it, and cancelling twice says so', async () => {
    const dir = tempDir('gpuq-tree-');
    const blocker = await gpuq.client.submit({ shell: `touch ${dir}/blocker; while [ ! -f ${dir}/release ]; do sleep 0.02; done`, gpus: 1 });
    const queued = await gpuq.client.submit({ shell: `touch ${dir}/ran`, gpus: 1 });
    const res = await gpuq.client.cancel(queued.job.id);
    expect(res).toMatchObject({ cancelled: true, job: { state: 'cancelled' } });
    expect((await gpuq.client.cancel(queued.job.id)).cancelled).toBe(false);
    await gpuq.client.cancel(blocker.job.id);
    expect((await gpuq.client.get(queued.job.id)).attempts).toHaveLength(0);
  });
});
