import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { isAlive, leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess | null = null;
afterEach(async () => {
  await gpuq?.stop();
  gpuq = null;
  expect(leakedServers()).toBe(0);
});

describe('crash safety', () => {
  it('loses no job when gpuq is killed -9 with 10 jobs running and 50 queued', async () => {
    const dataDir = tempDir();
    const out = tempDir('gpuq-crash-');
    gpuq = await startGpuq({ dataDir, fakeGpus: 10 });
    // Side effects: a start marker per attempt (with its pid), a done marker when the attempt completes.
    const script = `echo $$ > ${out}/start.$GPUQ_JOB_ID.$GPUQ_ATTEMPT; sleep 1.5; touch ${out}/done.$GPUQ_JOB_ID.$GPUQ_ATTEMPT`;
    const specs = Array.from({ length: 60 }, (_, i) => ({ name: `crash-${i}`, shell: script, gpus: 1, backoff: { initialSeconds: 0.05, maxSeconds: 0.1 } }));
    const ids = (await gpuq.client.submitBatch(specs)).jobs.map((j) => j.id);

    const running = await until('10 running jobs', async () => {
      const r = await gpuq!.client.list({ state: ['running'], limit: 100 });
      return r.jobs.length === 10 ? r.jobs : undefined;
    });
    expect((await gpuq.client.list({ state: ['queued'], limit: 100 })).jobs).toHaveLength(50);
    await gpuq.crash();
    gpuq = null;

    // The orphaned job processes are still running until gpuq comes back and reclaims them.
    const pids = () => readdirSync(out).filter((f) => f.startsWith('start.')).map((f) => Number(readFileSync(path.join(out, f), 'utf8').trim()));
    gpuq = await startGpuq({ dataDir, fakeGpus: 10 });
    const done = await waitForJobs(gpuq.client, ids, Date.now() + 90_000);
    expect(done.timedOut).toBe(false);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));

    for (const id of ids) {
      const detail = await gpuq.client.get(id);
      const succeeded = detail.attempts.filter((a) => a.state === 'succeeded');
      expect(succeeded).toHaveLength(1);
      // By the job's own side effects: the succeeding attempt completed its work.
      expect(existsSync(path.join(out, `done.${id}.${succeeded[0]!.number}`))).toBe(true);
      // Every attempt that started a process is a recorded attempt, and every re-run shows as one.
      const started = readdirSync(out).filter((f) => f.startsWith(`start.${id}.`)).map((f) => Number(f.split('.')[2]));
      const recorded = new Set(detail.attempts.map((a) => a.number));
      for (const n of started) expect(recorded.has(n)).toBe(true);
      if (running.some((j) => j.id === id)) {
        // A job that was running at the crash has a lost attempt 1 and was re-run.
        expect(detail.attempts[0]!.state).toBe('lost');
        expect(detail.attempts.length).toBeGreaterThanOrEqual(2);
      }
    }
    // No orphan of the crashed run is left.
    for (const pid of pids()) expect(isAlive(pid)).toBe(false);
  });
});
