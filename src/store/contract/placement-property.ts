import fc from 'fast-check';
import { expect } from 'vitest';
import type { Store } from '../store.js';
import type { OpenedStore } from './contract-context.js';
import { decideAt, FAILED, LEASE_MS, node, spec, SUCCEEDED, T0 } from './fixtures.js';

/**
 * A property of the store, not of the scheduler: whatever plans it is handed
 * (stale, overlapping, for the wrong node or device count), and whatever
 * attempts end or jobs are cancelled meanwhile, a device is held by at most one
 * live attempt, a job has at most one live attempt, a node never has more live
 * exec attempts than its maxRunning, and the snapshot's free devices and run
 * slots are exactly the healthy devices and the slots no live attempt holds.
 */

const NODES = [node('n1', 4, { maxRunning: 3 }), node('n2', 2, { maxRunning: 1 })];

// Submits and plans outweigh ends and cancels, so nodes fill up and plans run into held devices and full slots.
const command = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('submit' as const), gpus: fc.constantFrom(0, 0, 1, 2, 3), exec: fc.boolean() }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('plan' as const),
      placements: fc.array(
        fc.record({ job: fc.nat(), node: fc.constantFrom('n1', 'n2'), devices: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { maxLength: 3 }) }),
        { minLength: 1, maxLength: 4 },
      ),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ kind: fc.constant('end' as const), attempt: fc.nat(), ok: fc.boolean() }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('cancel' as const), job: fc.nat() }), weight: 1 },
);
type Command = typeof command extends fc.Arbitrary<infer C> ? C : never;

export async function livePlacementProperty(open: () => Promise<OpenedStore>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 40 }), async (commands) => {
      const opened = await open();
      try {
        const store = opened.store;
        for (const n of NODES) await store.upsertNode(n);
        const jobs: { id: number; gpus: number }[] = [];
        let now = T0;
        for (const c of commands) {
          now += 1;
          await apply(store, c, jobs, now);
          await checkInvariants(store, now);
        }
      } finally {
        await opened.cleanup();
      }
    }),
    { numRuns: 25 },
  );
}

async function apply(store: Store, c: Command, jobs: { id: number; gpus: number }[], now: number): Promise<void> {
  switch (c.kind) {
    case 'submit': {
      const [out] = await store.submitJobs([spec({ gpus: c.gpus, maxAttempts: 2, ...(c.exec ? { type: 'exec', command: ['true'] } : {}) })], now);
      jobs.push({ id: out!.job.id, gpus: c.gpus });
      return;
    }
    case 'plan': {
      if (jobs.length === 0) return;
      const placements = c.placements.map((p) => {
        const job = jobs[p.job % jobs.length]!;
        // Mostly the right number of devices; a short list tests the mismatch check too.
        return { jobId: job.id, nodeId: p.node, devices: p.devices.slice(0, job.gpus) };
      });
      await store.applyPlan(placements, now, LEASE_MS);
      return;
    }
    case 'end': {
      const live = await store.listLiveAttempts();
      const a = live[c.attempt % Math.max(1, live.length)];
      if (!a) return;
      await store.endAttempts([{ attemptId: a.id, end: c.ok ? SUCCEEDED : FAILED, exitCode: c.ok ? 0 : 1, signal: null, endedAt: now }], decideAt(now), now);
      return;
    }
    case 'cancel': {
      const job = jobs[c.job % Math.max(1, jobs.length)];
      if (job) await store.cancelJobs({ ids: [job.id] }, 'property', now);
      return;
    }
  }
}

async function checkInvariants(store: Store, now: number): Promise<void> {
  const live = await store.listLiveAttempts();
  const held = live.flatMap((a) => a.devices.map((d) => `${a.nodeId}/${d}`));
  expect(new Set(held).size).toBe(held.length);
  const liveJobs = live.map((a) => a.jobId);
  expect(new Set(liveJobs).size).toBe(liveJobs.length);
  for (const a of live) {
    const job = await store.getJob(a.jobId);
    expect(['assigned', 'running', 'cancelled']).toContain(job?.state);
    expect(a.number).toBe(job?.attempts);
  }
  const placed = await store.listJobs({ states: ['assigned', 'running'] }, { limit: 1000 });
  for (const j of placed.items) expect(liveJobs).toContain(j.id);
  const snap = await store.schedulingSnapshot(now, 1);
  for (const n of snap.nodes) {
    const expected = n.devices.filter((d) => !held.includes(`${n.id}/${d}`));
    expect(n.freeDevices).toEqual(expected);
    let execs = 0;
    for (const a of live) if (a.nodeId === n.id && (await store.getJob(a.jobId))?.type === 'exec') execs++;
    const limit = NODES.find((x) => x.id === n.id)!.maxRunning;
    expect(execs).toBeLessThanOrEqual(limit);
    expect([n.slotsTotal, n.slotsFree]).toEqual([limit, limit - execs]);
  }
}
