import { describe, expect, it } from 'vitest';
import type { GpuUsage } from '../../core/gpu-usage.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, FAILED, node, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** GPU accounting (gpu-usage-store.ts, migration 0010): per-GPU figures of attempts and the idle flag. */
export function gpuUsageContract(ctx: ContractContext): void {
  describe('GPU accounting', () => {
    /** Figures that differ by device and by `k`, so a row written for the wrong device or report shows. */
    const usage = (device: number, k: number, over: Partial<GpuUsage> = {}): GpuUsage => ({
      device,
      gpuSeconds: 10 * k,
      meanUtilizationPct: 40 + device + k,
      peakUtilizationPct: 90 + device,
      peakMemoryMb: 1000 * (device + 1) + k,
      idleSeconds: k / 2,
      samples: 3 * k + device,
      ...over,
    });
    const gpuJob = (gpus: number, queue = 'train') => submit(ctx.store, { type: 'exec', command: ['x'], gpus, queue, maxAttempts: 3, backoff: { initialSeconds: 0.001, maxSeconds: 0.001 } });

    it('records live figures while an attempt runs, replaces them with those its end carries, and keeps each attempt apart', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      const id = await gpuJob(2);
      const first = await start(ctx.store, id, 'n1', [0, 1], T0);
      expect(await ctx.store.listGpuUsage(id)).toEqual([]);

      expect(await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: first, idleSince: null, gpuUsage: [usage(0, 1), usage(1, 1)] }], T0 + 1000)).toEqual([]);
      expect(await ctx.store.listGpuUsage(id)).toEqual([{ attemptId: first, ...usage(0, 1) }, { attemptId: first, ...usage(1, 1) }]);
      // Newer live figures replace older ones.
      await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: first, idleSince: null, gpuUsage: [usage(0, 2), usage(1, 2)] }], T0 + 2000);
      expect(await ctx.store.listGpuUsage(id)).toEqual([{ attemptId: first, ...usage(0, 2) }, { attemptId: first, ...usage(1, 2) }]);

      const nulls = { meanUtilizationPct: null, peakUtilizationPct: null, peakMemoryMb: null };
      const [r] = await ctx.store.endAttempts([{ attemptId: first, end: FAILED, exitCode: 1, signal: null, endedAt: T0 + 3000, gpuUsage: [usage(0, 3), usage(1, 3, nulls)] }], decideAt(T0 + 3000), T0 + 3000);
      expect(r).toMatchObject({ accepted: true, jobState: 'queued' });
      expect(await ctx.store.listGpuUsage(id)).toEqual([{ attemptId: first, ...usage(0, 3) }, { attemptId: first, ...usage(1, 3, nulls) }]);

      // The retry's figures are its own; the first attempt's stay.
      const second = await start(ctx.store, id, 'n1', [0, 1], T0 + 4000);
      await ctx.store.endAttempts([{ attemptId: second, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 5000, gpuUsage: [usage(1, 5)] }], decideAt(T0 + 5000), T0 + 5000);
      expect(await ctx.store.listGpuUsage(id)).toEqual([{ attemptId: first, ...usage(0, 3) }, { attemptId: first, ...usage(1, 3, nulls) }, { attemptId: second, ...usage(1, 5) }]);
    });

    it('writes nothing for an attempt that is not live on the reporting node, nor for a refused end', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      await ctx.store.upsertNode(node('n2', 1));
      const id = await gpuJob(1);
      const attemptId = await start(ctx.store, id, 'n1', [0], T0);
      // Another node cannot report for it.
      expect(await ctx.store.recordLiveGpuUsage('n2', [{ attemptId, idleSince: T0, gpuUsage: [usage(0, 1)] }], T0 + 1)).toEqual([]);
      expect(await ctx.store.listGpuUsage(id)).toEqual([]);
      expect((await ctx.store.getAttempt(attemptId))?.idleSince).toBeNull();

      await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 10, gpuUsage: [usage(0, 2)] }], decideAt(T0 + 10), T0 + 10);
      // A late live report and a repeated end leave the final figures alone.
      expect(await ctx.store.recordLiveGpuUsage('n1', [{ attemptId, idleSince: T0, gpuUsage: [usage(0, 9)] }], T0 + 20)).toEqual([]);
      const [late] = await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 30, gpuUsage: [usage(0, 8)] }], decideAt(T0 + 30), T0 + 30);
      expect(late?.accepted).toBe(false);
      expect(await ctx.store.listGpuUsage(id)).toEqual([{ attemptId, ...usage(0, 2) }]);
      expect((await ctx.store.getAttempt(attemptId))?.idleSince).toBeNull();
    });

    it('sets and clears the idle flag once each, counts flagged live attempts by queue, keeps the flag after the end, and writes job.idle events', async () => {
      await ctx.store.upsertNode(node('n1', 3));
      const a = await gpuJob(2, 'train');
      const b = await gpuJob(1, 'infer');
      const attemptA = await start(ctx.store, a, 'n1', [0, 2], T0);
      const attemptB = await start(ctx.store, b, 'n1', [1], T0);
      expect(await ctx.store.idleAttemptsByQueue()).toEqual([]);

      const flagA = await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: attemptA, idleSince: T0 + 100, gpuUsage: [usage(0, 1), usage(2, 1)] }, { attemptId: attemptB, idleSince: null, gpuUsage: [usage(1, 1)] }], T0 + 700);
      expect(flagA).toEqual([{ attemptId: attemptA, jobId: a, queue: 'train', nodeId: 'n1', devices: [0, 2], idleSince: T0 + 100 }]);
      // Still idle: no change, and the first idle-since time stays.
      expect(await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: attemptA, idleSince: T0 + 150, gpuUsage: [usage(0, 2), usage(2, 2)] }], T0 + 800)).toEqual([]);
      expect((await ctx.store.getAttempt(attemptA))?.idleSince).toBe(T0 + 100);
      await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: attemptB, idleSince: T0 + 500, gpuUsage: [usage(1, 2)] }], T0 + 900);
      expect(await ctx.store.idleAttemptsByQueue()).toEqual([{ queue: 'infer', count: 1 }, { queue: 'train', count: 1 }]);

      const clearA = await ctx.store.recordLiveGpuUsage('n1', [{ attemptId: attemptA, idleSince: null, gpuUsage: [usage(0, 3), usage(2, 3)] }], T0 + 1000);
      expect(clearA).toEqual([{ attemptId: attemptA, jobId: a, queue: 'train', nodeId: 'n1', devices: [0, 2], idleSince: null }]);
      expect((await ctx.store.listAttempts(a))[0]?.idleSince).toBeNull();
      expect(await ctx.store.idleAttemptsByQueue()).toEqual([{ queue: 'infer', count: 1 }]);

      // B ends while flagged: it is no longer counted, and its attempt still says it ended idle.
      await ctx.store.endAttempts([{ attemptId: attemptB, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 1100, gpuUsage: [usage(1, 4)] }], decideAt(T0 + 1100), T0 + 1100);
      expect(await ctx.store.idleAttemptsByQueue()).toEqual([]);
      expect((await ctx.store.getAttempt(attemptB))?.idleSince).toBe(T0 + 500);

      // Each change is one job.idle event, at the time of the change, filterable by job.
      const idle = (await ctx.store.readFeed(0, { types: ['job.idle'] }, 100)).events;
      expect(idle.map(({ id: _id, ...e }) => e)).toEqual([
        { at: T0 + 700, type: 'job.idle', jobId: a, attemptId: attemptA, queue: 'train', nodeId: 'n1', devices: [0, 2], idle: true },
        { at: T0 + 900, type: 'job.idle', jobId: b, attemptId: attemptB, queue: 'infer', nodeId: 'n1', devices: [1], idle: true },
        { at: T0 + 1000, type: 'job.idle', jobId: a, attemptId: attemptA, queue: 'train', nodeId: 'n1', devices: [0, 2], idle: false },
      ]);
      expect(idle.map((e) => e.id)).toEqual([...idle.map((e) => e.id)].sort((x, y) => x - y));
      const ofA = (await ctx.store.readFeed(0, { types: ['job.idle'], jobId: a }, 100)).events;
      expect(ofA.map((e) => (e.type === 'job.idle' ? e.idle : null))).toEqual([true, false]);
    });

    it('lists every held device with the attempt, job and queue holding it, until the attempt ends', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      await ctx.store.upsertNode(node('n2', 1));
      const a = await gpuJob(2, 'train');
      const b = await gpuJob(1, 'infer');
      const attemptA = await start(ctx.store, a, 'n1', [0, 1]);
      const attemptB = await start(ctx.store, b, 'n2', [0]);
      expect(await ctx.store.deviceHolders()).toEqual([
        { nodeId: 'n1', index: 0, attemptId: attemptA, jobId: a, queue: 'train' },
        { nodeId: 'n1', index: 1, attemptId: attemptA, jobId: a, queue: 'train' },
        { nodeId: 'n2', index: 0, attemptId: attemptB, jobId: b, queue: 'infer' },
      ]);
      await ctx.store.endAttempts([{ attemptId: attemptA, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 1 }], decideAt(T0 + 1), T0 + 1);
      expect(await ctx.store.deviceHolders()).toEqual([{ nodeId: 'n2', index: 0, attemptId: attemptB, jobId: b, queue: 'infer' }]);
    });

    it('is purged by retention with its job', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const id = await gpuJob(1);
      const attemptId = await start(ctx.store, id, 'n1', [0]);
      await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0, gpuUsage: [usage(0, 1)] }], decideAt(T0), T0);
      expect(await ctx.store.purgeFinishedJobs(T0 + 1, 10)).toBe(1);
      expect(await ctx.store.listGpuUsage(id)).toEqual([]);
    });
  });
}
