import { describe, expect, it } from 'vitest';
import type { NodeCapacity, QueuedJob } from '../../core/scheduler/snapshot.js';
import type { Placement, Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, LEASE_MS, node, spec, SUCCEEDED, T0 } from './fixtures.js';

/**
 * For stores that several gpuq servers may share (capabilities.replicas): two
 * handles on one database, each with its own connections, act as two
 * control-plane replicas. Their calls run at the same time, so the database's
 * locks and constraints, not the order of calls, must keep the invariants.
 */
export function replicaContract(ctx: ContractContext): void {
  describe.runIf(ctx.capabilities.replicas)('replicas sharing one database', () => {
    it('place each job at most once, hold each device at most once and respect maxRunning when they apply conflicting plans at once', async () => {
      const a = ctx.store;
      const b = await ctx.opened.reopen();
      const limits = { n1: 3, n2: 8 };
      await a.upsertNode(node('n1', 4, { maxRunning: limits.n1 }));
      await a.upsertNode(node('n2', 2, { maxRunning: limits.n2 }));
      let now = T0;
      let placedTotal = 0;
      for (let round = 0; round < 12; round++) {
        now += 10;
        await a.submitJobs(
          Array.from({ length: 10 }, (_, i) => spec({ gpus: i % 3, ...(i % 2 === 0 ? { type: 'exec', command: ['true'] } : {}) })),
          now,
        );
        // Both replicas plan from one snapshot, in opposite orders: the plans agree on nothing.
        const snap = await a.schedulingSnapshot(now, 1000);
        const [placedA, placedB] = await Promise.all([
          a.applyPlan(greedyPlan(snap.nodes, snap.queued, 'forward'), now, LEASE_MS),
          b.applyPlan(greedyPlan(snap.nodes, snap.queued, 'backward'), now, LEASE_MS),
        ]);
        const placedJobs = [...placedA, ...placedB].map((p) => p.jobId);
        expect(new Set(placedJobs).size).toBe(placedJobs.length);
        placedTotal += placedJobs.length;

        const live = await a.listLiveAttempts();
        const held = live.flatMap((x) => x.devices.map((d) => `${x.nodeId}/${d}`));
        expect(new Set(held).size).toBe(held.length);
        expect(new Set(live.map((x) => x.jobId)).size).toBe(live.length);
        for (const [nodeId, limit] of Object.entries(limits)) {
          const execs = (await Promise.all(live.filter((x) => x.nodeId === nodeId).map((x) => a.getJob(x.jobId)))).filter((j) => j?.type === 'exec');
          expect(execs.length).toBeLessThanOrEqual(limit);
        }
        for (const p of [...placedA, ...placedB]) expect(live.map((x) => x.id)).toContain(p.attemptId);

        // Half of what runs ends, split between the replicas, so the next round has room to fight over.
        const ending = live.filter((_, i) => i % 2 === 0);
        await Promise.all([endAll(a, ending.filter((_, i) => i % 2 === 0), now), endAll(b, ending.filter((_, i) => i % 2 === 1), now)]);
      }
      expect(placedTotal).toBeGreaterThan(12);
    });

    it('apply a report once when both end the same attempts at once', async () => {
      const a = ctx.store;
      const b = await ctx.opened.reopen();
      await a.upsertNode(node('n1', 8));
      const out = await a.submitJobs(Array.from({ length: 8 }, () => spec({ gpus: 1 })), T0);
      const assigned = await a.applyPlan(out.map((o, i) => ({ jobId: o.job.id, nodeId: 'n1', devices: [i] })), T0, LEASE_MS);
      expect(assigned).toHaveLength(8);
      const reports = assigned.map((x) => ({ attemptId: x.attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 1 }));
      const [ra, rb] = await Promise.all([a.endAttempts(reports, decideAt(T0 + 1), T0 + 1), b.endAttempts([...reports].reverse(), decideAt(T0 + 1), T0 + 1)]);
      for (const x of assigned) {
        const accepted = [...ra, ...rb].filter((r) => r.attemptId === x.attemptId && r.accepted);
        expect(accepted).toHaveLength(1);
        expect((await a.listEvents(x.jobId)).filter((e) => e.to === 'succeeded')).toHaveLength(1);
      }
      expect(await a.listLiveAttempts()).toEqual([]);
      expect((await a.schedulingSnapshot(T0 + 2, 1)).nodes[0]?.freeDevices).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    });

    it('create one job for an idempotency key submitted to both at once', async () => {
      const a = ctx.store;
      const b = await ctx.opened.reopen();
      const batch = (name: string) => ['k1', 'k2', 'k3'].map((idempotencyKey) => spec({ name, idempotencyKey }));
      const [ra, rb] = await Promise.all([a.submitJobs(batch('a'), T0), b.submitJobs(batch('b').reverse(), T0)]);
      const byKey = new Map<string, number[]>();
      for (const o of [...ra, ...rb]) byKey.set(o.job.spec.idempotencyKey!, [...(byKey.get(o.job.spec.idempotencyKey!) ?? []), o.job.id]);
      for (const ids of byKey.values()) expect(new Set(ids).size).toBe(1);
      expect([...ra, ...rb].filter((o) => o.created)).toHaveLength(3);
      expect((await a.listJobs({}, { limit: 10 })).items).toHaveLength(3);
    });
  });
}

/** A plan as a scheduler might make it: each job, in the given order, on the first node with enough free devices and slots. */
function greedyPlan(nodes: NodeCapacity[], queued: QueuedJob[], order: 'forward' | 'backward'): Placement[] {
  const free = new Map(nodes.map((n) => [n.id, { devices: order === 'forward' ? [...n.freeDevices] : [...n.freeDevices].reverse(), slots: n.slotsFree }]));
  const plan: Placement[] = [];
  for (const job of order === 'forward' ? queued : [...queued].reverse()) {
    const target = nodes.find((n) => {
      const f = free.get(n.id)!;
      return n.schedulable && f.devices.length >= job.gpus && f.slots >= job.slots;
    });
    if (!target) continue;
    const f = free.get(target.id)!;
    plan.push({ jobId: job.id, nodeId: target.id, devices: f.devices.splice(0, job.gpus) });
    f.slots -= job.slots;
  }
  return plan;
}

async function endAll(store: Store, attempts: { id: number }[], now: number): Promise<void> {
  if (attempts.length === 0) return;
  const results = await store.endAttempts(
    attempts.map((x) => ({ attemptId: x.id, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: now })),
    decideAt(now),
    now,
  );
  expect(results.every((r) => r.accepted)).toBe(true);
}
