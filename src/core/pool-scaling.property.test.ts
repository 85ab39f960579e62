import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planPools, poolGpusHeld } from './pool-scaling.js';
import { parsePoolSpec, type Pool, type PoolReplica } from './pool-spec.js';
import { place } from './scheduler/place.js';
import type { NodeCapacity, QueuedJob } from './scheduler/snapshot.js';

/**
 * The pools' GPU cap (`--pool-gpu-limit`) as a property, with pools and ordinary jobs competing for the
 * same GPUs through the real scheduler (`place`). A random cluster, random pools and a random cap; then
 * random steps: backlogs change, jobs arrive, the pool plan is applied (replica jobs queued, replicas asked
 * to stop end), the scheduler places replicas and jobs together, and replicas become ready, crash or end,
 * jobs finish. After every step:
 *  - the GPUs held by live replicas of all pools (placed: their devices; pending: their spec) never exceed the cap;
 *  - no GPU is held twice, by replicas and jobs together, and none beyond a node's devices;
 *  - a pool never has more live replicas of its generation than its maxReplicas.
 */

interface Held {
  id: number;
  nodeId: string;
  devices: number[];
}

const clusterArb = fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 4 });
const poolArb = fc.record({
  gpus: fc.integer({ min: 0, max: 4 }),
  minReplicas: fc.integer({ min: 0, max: 3 }),
  extra: fc.integer({ min: 0, max: 3 }),
  targetBacklog: fc.integer({ min: 1, max: 10 }),
});
const stepArb = fc.record({
  backlog: fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 3, maxLength: 3 }),
  jobs: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
  /** Per live replica or job, a draw deciding what happens to it this step. */
  fates: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 40, maxLength: 40 }),
  random: fc.double({ min: 0, max: 0.999, noNaN: true }),
});

describe('pool GPU cap (property)', () => {
  it('holds whatever the pools, the jobs competing with them and the cluster do', () => {
    fc.assert(
      fc.property(clusterArb, fc.array(poolArb, { minLength: 1, maxLength: 3 }), fc.integer({ min: 0, max: 16 }), fc.array(stepArb, { minLength: 1, maxLength: 25 }), (gpusPerNode, poolDefs, cap, steps) => {
        const pools: Pool[] = poolDefs.map((d, i) => ({
          name: `p${i}`,
          spec: parsePoolSpec({ name: `p${i}`, command: ['w'], gpus: d.gpus, minReplicas: d.minReplicas, maxReplicas: Math.max(1, d.minReplicas + d.extra), targetBacklog: d.targetBacklog, idleTimeoutSeconds: 1, backoff: { initialSeconds: 1, maxSeconds: 4, multiplier: 2 } }),
          state: 'active',
          generation: 1,
          createdAt: 0,
          updatedAt: 0,
        }));
        const nodes = gpusPerNode.map((n, i) => ({ id: `n${i}`, devices: Array.from({ length: n }, (_, d) => d) }));
        let replicas: PoolReplica[] = [];
        let jobsQueued: QueuedJob[] = [];
        let jobsRunning: Held[] = [];
        let nextId = 1;
        let now = 1_000_000;

        for (const step of steps) {
          now += 1500;
          const backlogs = new Map(pools.map((p, i) => [p.name, { runnable: step.backlog[i]!, queued: step.backlog[i]!, running: 0 }]));
          for (const g of step.jobs) jobsQueued.push({ id: nextId++, queue: 'default', priority: 0, gpus: g, cpus: 0, memoryMb: 0, slots: 1, nodeSelector: {}, createdAt: now });

          const plan = planPools({ pools, replicas, backlogs, now, gpuLimit: cap, random: step.random });
          const stopped = new Set(plan.stops.map((s) => s.jobId));
          replicas = replicas.map((r) => (stopped.has(r.jobId) ? { ...r, state: 'ended', endedAt: now, endReason: 'idle' } : r));
          for (const start of plan.starts) {
            for (let k = 0; k < start.count; k++) replicas.push(pendingReplica(nextId++, start.pool, now));
          }
          check();

          // The scheduler places replicas and jobs together, on what nobody holds.
          const held = [...replicas.filter((r) => r.state !== 'ended' && r.nodeId !== null).map((r) => ({ id: r.jobId, nodeId: r.nodeId!, devices: r.devices })), ...jobsRunning];
          const capacity: NodeCapacity[] = nodes.map((n) => {
            const taken = new Set(held.filter((h) => h.nodeId === n.id).flatMap((h) => h.devices));
            const free = n.devices.filter((d) => !taken.has(d));
            return { id: n.id, labels: {}, schedulable: true, devices: n.devices, freeDevices: free, cpusTotal: 64, cpusFree: 64, memoryTotalMb: 1 << 20, memoryFreeMb: 1 << 20, slotsTotal: 100, slotsFree: 100 };
          });
          const pendingJobs: QueuedJob[] = replicas
            .filter((r) => r.state === 'pending')
            .map((r) => ({ id: r.jobId, queue: `pool.${r.pool}`, priority: 0, gpus: pools.find((p) => p.name === r.pool)!.spec.gpus, cpus: 0, memoryMb: 0, slots: 1, nodeSelector: {}, createdAt: r.createdAt }));
          const queue = [...pendingJobs, ...jobsQueued].sort((a, b) => b.priority - a.priority || a.id - b.id);
          const placed = place({ now, nodes: capacity, queued: queue });
          for (const pl of placed.placements) {
            const r = replicas.findIndex((x) => x.jobId === pl.jobId);
            if (r >= 0) replicas[r] = { ...replicas[r]!, state: 'starting', nodeId: pl.nodeId, devices: pl.devices, startedAt: now, attemptId: pl.jobId };
            else {
              jobsQueued = jobsQueued.filter((j) => j.id !== pl.jobId);
              jobsRunning.push({ id: pl.jobId, nodeId: pl.nodeId, devices: pl.devices });
            }
          }
          check();

          // Fates: replicas get ready, crash; jobs finish.
          let f = 0;
          const fate = () => step.fates[f++ % step.fates.length]!;
          replicas = replicas.map((r) => {
            if (r.state === 'ended' || r.state === 'pending') return r;
            const x = fate();
            if (x < 0.15) return { ...r, state: 'ended', endedAt: now, endReason: 'crashed' };
            if (r.state === 'starting' && x < 0.8) return { ...r, state: 'ready', readyAt: now, lastActiveAt: now };
            return r;
          });
          jobsRunning = jobsRunning.filter(() => fate() >= 0.3);
          check();
        }

        function check(): void {
          expect(poolGpusHeld(pools, replicas)).toBeLessThanOrEqual(cap);
          const seen = new Set<string>();
          const holders = [...replicas.filter((r) => r.state !== 'ended').map((r) => ({ nodeId: r.nodeId, devices: r.devices })), ...jobsRunning];
          for (const h of holders) {
            for (const d of h.devices) {
              const key = `${h.nodeId}/${d}`;
              expect(seen.has(key)).toBe(false);
              seen.add(key);
              expect(d).toBeLessThan(nodes.find((n) => n.id === h.nodeId)!.devices.length);
            }
          }
          for (const p of pools) expect(replicas.filter((r) => r.pool === p.name && r.state !== 'ended' && r.state !== 'stopping').length).toBeLessThanOrEqual(p.spec.maxReplicas);
        }
      }),
      { numRuns: 300 },
    );
  });
});

function pendingReplica(jobId: number, pool: string, now: number): PoolReplica {
  return { jobId, pool, generation: 1, state: 'pending', nodeId: null, devices: [], attemptId: null, createdAt: now, startedAt: null, readyAt: null, endedAt: null, endReason: null, endDetail: null, stopRequested: false, tasksDone: 0, lastActiveAt: null };
}
