import { describe, expect, it } from 'vitest';
import type { JobOwner } from '../../core/access.js';
import type { GpuUsage } from '../../core/gpu-usage.js';
import type { JobSpecInput } from '../../core/job-spec.js';
import type { AttemptEnd } from '../../core/retry-policy.js';
import type { Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, FAILED, LEASE_MS, node, spec, SUCCEEDED, T0 } from './fixtures.js';

/**
 * ReportStore.jobReport: the SLO report's figures over [since, until), from what the store holds
 * (core/slo-report.ts says what each counts). Expected values are worked out here from the
 * scenario's own times, by sorting every value (the store must find the same without doing so).
 */

const ALICE: JobOwner = { tokenId: 'tok_aaaaaaaaaaaaaaaa', name: 'alice' };
const BOB: JobOwner = { tokenId: 'tok_bbbbbbbbbbbbbbbb', name: 'bob' };
const SINCE = T0;
const UNTIL = T0 + 60_000;

/** The nearest-rank percentile of a list, by sorting it. */
function nearestRank(values: number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function usage(device: number, gpuSeconds: number, meanUtilizationPct: number | null, idleSeconds = 0): GpuUsage {
  return { device, gpuSeconds, meanUtilizationPct, peakUtilizationPct: meanUtilizationPct, peakMemoryMb: null, idleSeconds, samples: meanUtilizationPct === null ? 0 : 3 };
}

async function submitAt(store: Store, input: Partial<JobSpecInput>, at: number, owner: JobOwner | null = null): Promise<number> {
  const [out] = await store.submitJobs([spec(input)], at, owner);
  return out!.job.id;
}

/** Places a job's next attempt at `assignedAt` and starts it at `startedAt`; returns the attempt id. */
async function startAt(store: Store, jobId: number, devices: number[], assignedAt: number, startedAt: number): Promise<number> {
  const [assigned] = await store.applyPlan([{ jobId, nodeId: 'n1', devices }], assignedAt, LEASE_MS);
  expect(assigned?.jobId).toBe(jobId);
  const [started] = await store.markRunning([{ attemptId: assigned!.attemptId, pid: 1, logPath: null, startedAt }], startedAt);
  expect(started?.accepted).toBe(true);
  return assigned!.attemptId;
}

async function endAt(store: Store, attemptId: number, how: AttemptEnd, endedAt: number, gpuUsage?: GpuUsage[]): Promise<void> {
  const [r] = await store.endAttempts([{ attemptId, end: how, exitCode: how.state === 'succeeded' ? 0 : 1, signal: null, endedAt, ...(gpuUsage ? { gpuUsage } : {}) }], decideAt(endedAt), endedAt);
  expect(r?.accepted).toBe(true);
}

/**
 * A known mix, in queues a and b, around the range [T0, T0 + 60 s): jobs that finished before it and after it,
 * a retried one, a failed one, a cancelled one, one queued and one still running (with live GPU figures).
 */
async function scenario(store: Store) {
  await store.upsertNode(node('n1', 4));
  const old = await submitAt(store, { queue: 'a', gpus: 1 }, T0 - 10_000);
  await endAt(store, await startAt(store, old, [3], T0 - 9_000, T0 - 9_000), SUCCEEDED, T0 - 8_000, [usage(3, 1, 100)]);

  const a1 = await submitAt(store, { queue: 'a', gpus: 1 }, T0 + 1_000, ALICE);
  await endAt(store, await startAt(store, a1, [0], T0 + 1_500, T0 + 2_000), SUCCEEDED, T0 + 6_000, [usage(0, 4, 50, 1)]);

  const a2 = await submitAt(store, { queue: 'a', gpus: 2, maxAttempts: 3 }, T0 + 1_000, ALICE);
  await endAt(store, await startAt(store, a2, [1, 2], T0 + 4_000, T0 + 4_000), FAILED, T0 + 5_000, [usage(1, 1, 10, 1), usage(2, 1, 30)]);
  await endAt(store, await startAt(store, a2, [1, 2], T0 + 20_000, T0 + 20_000), SUCCEEDED, T0 + 30_000, [usage(1, 10, 90), usage(2, 10, 70)]);

  const a3 = await submitAt(store, { queue: 'a', maxAttempts: 1 }, T0 + 2_000);
  await endAt(store, await startAt(store, a3, [], T0 + 7_000, T0 + 7_000), FAILED, T0 + 8_000);

  const b1 = await submitAt(store, { queue: 'b' }, T0 + 3_000);
  await store.cancelJobs({ ids: [b1] }, 'not needed', T0 + 9_000);
  const b2 = await submitAt(store, { queue: 'b' }, T0 + 3_000);

  const b3 = await submitAt(store, { queue: 'b', gpus: 1 }, T0 + 3_000, BOB);
  const b3Attempt = await startAt(store, b3, [3], T0 + 40_000, T0 + 40_000);
  await store.recordLiveGpuUsage('n1', [{ attemptId: b3Attempt, idleSince: null, gpuUsage: [usage(3, 5, 99)] }], T0 + 45_000);

  const b4 = await submitAt(store, { queue: 'b', gpus: 1 }, T0 + 10_000);
  await endAt(store, await startAt(store, b4, [0], T0 + 11_000, T0 + 11_000), SUCCEEDED, T0 + 15_000, [usage(0, 4, null)]);

  const late = await submitAt(store, { queue: 'a', gpus: 1 }, T0 + 50_000);
  await endAt(store, await startAt(store, late, [0], T0 + 55_000, T0 + 55_000), SUCCEEDED, T0 + 70_000, [usage(0, 15, 100)]);

  return { old, a1, a2, a3, b1, b2, b3, b4, late };
}

export function reportContract(ctx: ContractContext): void {
  describe('jobReport', () => {
    it('measures a known mix of jobs over a range, for every queue and for one', async () => {
      await scenario(ctx.store);
      const all = await ctx.store.jobReport({ since: SINCE, until: UNTIL });
      // Finished in range: a1, a2 (on its second attempt), b4 succeeded; a3 failed; b1 cancelled. `old` and `late` finished outside.
      expect(all.jobs).toEqual({ succeeded: 3, failed: 1, cancelled: 1, retried: 1, queuedNow: 1, runningNow: 1 });
      expect(all.finishedAttempts).toBe(1 + 2 + 1 + 1);
      // First starts in range: a1, a2, a3, b3, b4, late (its end is outside, its start is not).
      const waits = [2_000 - 1_000, 4_000 - 1_000, 7_000 - 2_000, 40_000 - 3_000, 11_000 - 10_000, 55_000 - 50_000];
      expect(all.queueWaitMs).toEqual({ count: waits.length, sampled: waits.length, p50: nearestRank(waits, 50), p95: nearestRank(waits, 95), p99: nearestRank(waits, 99) });
      // Attempts that ended in range: a1, a2 twice, a3, b4.
      const runs = [6_000 - 2_000, 5_000 - 4_000, 30_000 - 20_000, 8_000 - 7_000, 15_000 - 11_000];
      expect(all.runMs).toEqual({ count: runs.length, sampled: runs.length, p50: nearestRank(runs, 50), p95: nearestRank(runs, 95) });
      expect(all.dlqInflow).toBe(1);
      expect(all.gpu.capacity).toBe(4);
      expect(all.gpu.simulated).toBe(true);
      // The live attempt (b3) and the attempts that ended outside the range (old, late) are not counted.
      expect(all.gpu.usage).toEqual([
        { queue: 'a', owner: 'alice', gpuSeconds: 4 + 1 + 1 + 10 + 10, sampledSeconds: 26, utilizationSeconds: 4 * 50 + 1 * 10 + 1 * 30 + 10 * 90 + 10 * 70, idleSeconds: 2 },
        { queue: 'b', owner: null, gpuSeconds: 4, sampledSeconds: 0, utilizationSeconds: 0, idleSeconds: 0 },
      ]);

      const b = await ctx.store.jobReport({ since: SINCE, until: UNTIL, queue: 'b' });
      expect(b.jobs).toEqual({ succeeded: 1, failed: 0, cancelled: 1, retried: 0, queuedNow: 1, runningNow: 1 });
      expect(b.finishedAttempts).toBe(1);
      expect(b.queueWaitMs).toEqual({ count: 2, sampled: 2, p50: nearestRank([37_000, 1_000], 50), p95: 37_000, p99: 37_000 });
      expect(b.runMs).toEqual({ count: 1, sampled: 1, p50: 4_000, p95: 4_000 });
      expect(b.dlqInflow).toBe(0);
      expect(b.gpu.usage).toEqual([{ queue: 'b', owner: null, gpuSeconds: 4, sampledSeconds: 0, utilizationSeconds: 0, idleSeconds: 0 }]);
      expect(b.gpu.capacity).toBe(4);
    });

    it('takes since inclusive and until exclusive', async () => {
      const { a1 } = await scenario(ctx.store);
      // a1 ended at T0 + 6 s: in [T0 + 6 s, …), not in [… , T0 + 6 s).
      const from = await ctx.store.jobReport({ since: T0 + 6_000, until: T0 + 6_001, queue: 'a' });
      expect(from.jobs.succeeded).toBe(1);
      expect(from.runMs).toEqual({ count: 1, sampled: 1, p50: 4_000, p95: 4_000 });
      const before = await ctx.store.jobReport({ since: T0 + 5_999, until: T0 + 6_000, queue: 'a' });
      expect(before.jobs.succeeded).toBe(0);
      expect(before.runMs).toEqual({ count: 0, sampled: 0, p50: null, p95: null });
      expect((await ctx.store.getJob(a1))?.finishedAt).toBe(T0 + 6_000);
    });

    it('reports zeros and no percentiles for a range with nothing in it, and an unknown queue', async () => {
      await scenario(ctx.store);
      const empty = await ctx.store.jobReport({ since: T0 + 100_000, until: T0 + 200_000 });
      expect(empty).toEqual({
        jobs: { succeeded: 0, failed: 0, cancelled: 0, retried: 0, queuedNow: 1, runningNow: 1 },
        finishedAttempts: 0,
        queueWaitMs: { count: 0, sampled: 0, p50: null, p95: null, p99: null },
        runMs: { count: 0, sampled: 0, p50: null, p95: null },
        dlqInflow: 0,
        gpu: { capacity: 4, simulated: true, usage: [] },
      });
      const unknown = await ctx.store.jobReport({ since: SINCE, until: UNTIL, queue: 'nope' });
      expect(unknown.jobs).toEqual({ succeeded: 0, failed: 0, cancelled: 0, retried: 0, queuedNow: 0, runningNow: 0 });
    });

    it('finds each percentile of many values as a sort of all of them would, from either end, or of a bounded sample', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      // Waits in a scrambled order with repeats, so neither submit order nor id order is the answer.
      const waits = Array.from({ length: 41 }, (_, i) => ((i * 37) % 29) * 250 + (i % 3) * 10);
      const out = await ctx.store.submitJobs(waits.map(() => spec()), T0);
      const placed = await ctx.store.applyPlan(out.map((o) => ({ jobId: o.job.id, nodeId: 'n1', devices: [] })), T0, LEASE_MS);
      await ctx.store.markRunning(placed.map((a, i) => ({ attemptId: a.attemptId, pid: 1, logPath: null, startedAt: T0 + waits[i]! })), T0 + 10_000);
      const r = await ctx.store.jobReport({ since: T0, until: T0 + 60_000 });
      expect(r.queueWaitMs).toEqual({ count: 41, sampled: 41, p50: nearestRank(waits, 50), p95: nearestRank(waits, 95), p99: nearestRank(waits, 99) });
      expect(new Set([r.queueWaitMs.p50, r.queueWaitMs.p95, r.queueWaitMs.p99]).size).toBe(3);

      // Over more values than the sample bound: of the jobs (and attempts) whose id is a multiple of the step, ceil(41 / 10) = 5.
      await ctx.store.endAttempts(
        placed.map((a, i) => ({ attemptId: a.attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + waits[i]! + 1 + ((i * 13) % 7) * 100 })),
        decideAt(T0 + 20_000),
        T0 + 20_000,
      );
      const sampledWaits = out.filter((o) => o.job.id % 5 === 0).map((o) => waits[out.indexOf(o)]!);
      const runs = placed.map((a, i) => ({ id: a.attemptId, ms: 1 + ((i * 13) % 7) * 100 }));
      const sampledRuns = runs.filter((x) => x.id % 5 === 0).map((x) => x.ms);
      const s = await ctx.store.jobReport({ since: T0, until: T0 + 60_000, percentileSample: 10 });
      expect(sampledWaits.length).toBeGreaterThan(5);
      expect(s.queueWaitMs).toEqual({ count: 41, sampled: sampledWaits.length, p50: nearestRank(sampledWaits, 50), p95: nearestRank(sampledWaits, 95), p99: nearestRank(sampledWaits, 99) });
      expect(s.runMs).toEqual({ count: 41, sampled: sampledRuns.length, p50: nearestRank(sampledRuns, 50), p95: nearestRank(sampledRuns, 95) });
    });

    it('gives the same figures after a restart: they come from the store', async () => {
      await scenario(ctx.store);
      const first = await ctx.store.jobReport({ since: SINCE, until: UNTIL });
      await ctx.store.close();
      const reopened = await ctx.opened.reopen();
      expect(await reopened.jobReport({ since: SINCE, until: UNTIL })).toEqual(first);
    });
  });
}
