import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { leakedServers, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess | null = null;
afterEach(async () => {
  await gpuq?.stop();
  gpuq = null;
  expect(leakedServers()).toBe(0);
});

interface Record_ {
  jobId: number;
  attempt: number;
  gpus: number[];
  start: number;
  end: number;
}

describe('GPU pinning', () => {
  it('never gives a GPU to two overlapping jobs, and runs each job exactly once', async () => {
    gpuq = await startGpuq({ fakeGpus: 4 });
    const out = tempDir('gpuq-pin-');
    // Each job records the GPUs it was given and its own start and end time (ns), then exits.
    const script = `s=$(date +%s%N); sleep 0.$((RANDOM % 3 + 1)); e=$(date +%s%N); echo "$GPUQ_JOB_ID $GPUQ_ATTEMPT $CUDA_VISIBLE_DEVICES $s $e" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT`;
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `pin-${i}`, shell: script.replace('RANDOM % 3 + 1', String((i % 3) + 1)), gpus: (i % 3) + 1, maxAttempts: 1 }));
    const { jobs } = await gpuq.client.submitBatch(specs);
    expect(jobs).toHaveLength(40);
    const ids = jobs.map((j) => j.id);
    const done = await waitForJobs(gpuq.client, ids, Date.now() + 60_000);
    expect(done.timedOut).toBe(false);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));
    expect((await gpuq.client.list({ limit: 100 })).jobs).toHaveLength(40);

    const records: Record_[] = readdirSync(out).map((f) => {
      const [jobId, attempt, gpus, start, end] = readFileSync(path.join(out, f), 'utf8').trim().split(' ');
      return { jobId: Number(jobId), attempt: Number(attempt), gpus: gpus!.split(',').map(Number), start: Number(start) / 1e6, end: Number(end) / 1e6 };
    });
    // Exactly once: one record per job, from attempt 1, and the store agrees.
    expect(records.map((r) => r.jobId).sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect(records.every((r) => r.attempt === 1)).toBe(true);
    expect(done.jobs.every((j) => j.attempts === 1)).toBe(true);
    // Each job saw exactly as many GPUs as it asked for, all real indices of the 4.
    for (const r of records) {
      const spec = specs[ids.indexOf(r.jobId)]!;
      expect(new Set(r.gpus).size).toBe(spec.gpus);
      expect(r.gpus.every((g) => g >= 0 && g < 4)).toBe(true);
    }
    // No GPU held by two jobs whose [start, end] intervals overlap.
    for (let g = 0; g < 4; g++) {
      const onG = records.filter((r) => r.gpus.includes(g)).sort((a, b) => a.start - b.start);
      for (let i = 1; i < onG.length; i++) expect(onG[i]!.start).toBeGreaterThanOrEqual(onG[i - 1]!.end);
    }
    // The schedule used the GPUs in parallel (not one job at a time).
    const span = Math.max(...records.map((r) => r.end)) - Math.min(...records.map((r) => r.start));
    const serial = records.reduce((s, r) => s + (r.end - r.start), 0);
    expect(span).toBeLessThan(serial);
  });
});
