import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { place } from './place.js';
import type { NodeCapacity, PlacementPlan, QueuedJob, SchedulingSnapshot } from './snapshot.js';

/**
 * Property tests of `place` against random clusters and job streams.
 *
 * `checkPlan` replays the plan job by job in priority order over a model of
 * the cluster's capacity, written from the rules in place.ts's header rather
 * than from its code, and checks:
 *  - safety: every placement is on a schedulable node, matches the selector,
 *    gets exactly `gpus` devices that are healthy and free and given to no one
 *    else (placements and reservations together), and fits the CPUs, memory
 *    and run slots left at its turn; so nothing is ever overcommitted,
 *    reservations included;
 *  - priority order: a job left unplaced would not have fitted any node in
 *    the capacity left at its turn (what earlier jobs took or reserved), i.e.
 *    no lower job was placed into room a higher job could have used;
 *  - the reservation rule: a blocked GPU job that some unreserved node could
 *    hold when empty reserves the one with the most free GPUs (ties: lowest
 *    id), withholding min(free, asked) of each resource; otherwise none;
 *  - the choice rules: best fit for GPU jobs, fewest-devices-first for
 *    zero-GPU jobs, lowest device indices;
 *  - bookkeeping: every job is in exactly one of placements and waiting.
 */

const EPS = 1e-9;

interface ModelNode {
  node: NodeCapacity;
  avail: number[];
  cpus: number;
  memoryMb: number;
  slots: number;
  reservedBy: number | null;
}

const inOrder = (q: QueuedJob[]) => [...q].sort((a, b) => b.priority - a.priority || a.id - b.id);
const selectorOk = (n: NodeCapacity, j: QueuedJob) => Object.entries(j.nodeSelector).every(([k, v]) => n.labels[k] === v);
const holdsWhenEmpty = (n: NodeCapacity, j: QueuedJob) =>
  selectorOk(n, j) &&
  n.devices.length >= j.gpus &&
  (j.cpus === 0 || n.cpusTotal + EPS >= j.cpus) &&
  (j.memoryMb === 0 || n.memoryTotalMb >= j.memoryMb) &&
  (j.slots === 0 || n.slotsTotal >= j.slots);
const fitsNow = (m: ModelNode, j: QueuedJob) =>
  selectorOk(m.node, j) &&
  m.avail.length >= j.gpus &&
  (j.cpus === 0 || m.cpus + EPS >= j.cpus) &&
  (j.memoryMb === 0 || m.memoryMb >= j.memoryMb) &&
  (j.slots === 0 || m.slots >= j.slots);
const byId = (a: ModelNode, b: ModelNode) => (a.node.id < b.node.id ? -1 : a.node.id > b.node.id ? 1 : 0);

function checkPlan(s: SchedulingSnapshot, plan: PlacementPlan, maxPlacements = Infinity): void {
  const placed = new Map(plan.placements.map((p) => [p.jobId, p]));
  const waiting = new Map(plan.waiting.map((w) => [w.jobId, w.reason]));
  const reserved = new Map(plan.reservations.map((r) => [r.jobId, r]));
  expect(placed.size).toBe(plan.placements.length);
  expect(waiting.size).toBe(plan.waiting.length);
  expect(reserved.size).toBe(plan.reservations.length);
  expect(new Set(plan.reservations.map((r) => r.nodeId)).size).toBe(plan.reservations.length);
  expect([...placed.keys(), ...waiting.keys()].sort((a, b) => a - b)).toEqual(s.queued.map((j) => j.id).sort((a, b) => a - b));
  for (const id of reserved.keys()) expect(waiting.has(id)).toBe(true);
  expect(plan.placements.length).toBeLessThanOrEqual(maxPlacements);

  // Independent of the replay: no device is handed out twice or handed out while not free.
  const handedOut = new Set<string>();
  for (const { nodeId, devices } of [...plan.placements, ...plan.reservations]) {
    const n = s.nodes.find((x) => x.id === nodeId)!;
    for (const d of devices) {
      expect(n.freeDevices.includes(d) && n.devices.includes(d)).toBe(true);
      expect(handedOut.has(`${nodeId}/${d}`)).toBe(false);
      handedOut.add(`${nodeId}/${d}`);
    }
  }

  const models = s.nodes
    .filter((n) => n.schedulable)
    .map((node): ModelNode => ({
      node,
      avail: [...new Set(node.freeDevices)].filter((d) => node.devices.includes(d)).sort((a, b) => a - b),
      cpus: node.cpusFree,
      memoryMb: node.memoryFreeMb,
      slots: node.slotsFree,
      reservedBy: null,
    }))
    .sort(byId);
  let count = 0;
  for (const job of inOrder(s.queued)) {
    const fitting = models.filter((m) => fitsNow(m, job));
    const p = placed.get(job.id);
    if (p !== undefined) {
      const m = models.find((x) => x.node.id === p.nodeId);
      expect(m, `job ${job.id} placed on unschedulable node ${p.nodeId}`).toBeDefined();
      expect(fitting).toContain(m);
      const expected =
        job.gpus > 0
          ? [...fitting].sort((a, b) => a.avail.length - b.avail.length || byId(a, b))[0]
          : [...fitting].sort((a, b) => a.node.devices.length - b.node.devices.length || byId(a, b))[0];
      expect(p.nodeId).toBe(expected!.node.id);
      expect(p.devices).toEqual(m!.avail.slice(0, job.gpus));
      m!.avail = m!.avail.slice(job.gpus);
      m!.cpus -= job.cpus;
      m!.memoryMb -= job.memoryMb;
      m!.slots -= job.slots;
      expect(m!.cpus).toBeGreaterThanOrEqual(-EPS);
      expect(m!.memoryMb).toBeGreaterThanOrEqual(0);
      expect(m!.slots).toBeGreaterThanOrEqual(0);
      count++;
      continue;
    }
    const reason = waiting.get(job.id)!;
    expect(reason.length).toBeGreaterThan(0);
    if (count >= maxPlacements) {
      expect(reason).toMatch(/^not considered this round/);
      expect(reserved.has(job.id)).toBe(false);
      continue;
    }
    // Priority order: it was left out only because nothing could hold it at its turn.
    expect(fitting.map((m) => m.node.id), `job ${job.id} was skipped although it fitted`).toEqual([]);
    const candidates = models.filter((m) => holdsWhenEmpty(m.node, job));
    const open = candidates.filter((m) => m.reservedBy === null);
    const r = reserved.get(job.id);
    if (job.gpus > 0 && open.length > 0) {
      const m = [...open].sort((a, b) => b.avail.length - a.avail.length || byId(a, b))[0]!;
      expect(r).toEqual({ jobId: job.id, nodeId: m.node.id, devices: m.avail.slice(0, Math.min(m.avail.length, job.gpus)) });
      expect(reason).toMatch(new RegExp(`^waiting for .* \\(reserved on ${m.node.id}\\)$`));
      m.avail = m.avail.slice(r!.devices.length);
      m.cpus -= Math.max(0, Math.min(m.cpus, job.cpus));
      m.memoryMb -= Math.max(0, Math.min(m.memoryMb, job.memoryMb));
      m.slots -= Math.max(0, Math.min(m.slots, job.slots));
      m.reservedBy = job.id;
    } else {
      expect(r).toBeUndefined();
      if (candidates.length === 0) expect(reason).not.toMatch(/^waiting/);
      else if (job.gpus > 0) expect(reason).toMatch(/^waiting behind a reservation/);
      else expect(reason).toMatch(/^waiting/);
    }
  }
  expect(plan.slotsLeft).toBe(models.reduce((n, m) => n + Math.max(0, m.slots), 0));
}

const nodeArb = (id: string) =>
  fc
    .record({
      deviceStates: fc.array(fc.constantFrom('free', 'busy', 'busy', 'unhealthy'), { maxLength: 8 }),
      cpusTotal: fc.constantFrom(0, 8, 16, 32, 32),
      cpusUsed: fc.double({ min: 0, max: 1, noNaN: true }),
      memoryTotalMb: fc.constantFrom(0, 16_000, 64_000, 64_000),
      memoryUsed: fc.double({ min: 0, max: 1, noNaN: true }),
      slotsTotal: fc.integer({ min: 1, max: 6 }),
      slotsUsed: fc.double({ min: 0, max: 1, noNaN: true }),
      zone: fc.constantFrom('a', 'b'),
      model: fc.constantFrom('A100', 'H100'),
      schedulable: fc.integer({ min: 0, max: 5 }).map((x) => x > 0),
    })
    .map((r): NodeCapacity => {
      const devices = r.deviceStates.flatMap((st, i) => (st === 'unhealthy' ? [] : [i]));
      return {
        id,
        labels: { zone: r.zone, model: r.model },
        schedulable: r.schedulable,
        devices,
        freeDevices: devices.filter((d) => r.deviceStates[d] === 'free'),
        cpusTotal: r.cpusTotal,
        cpusFree: r.cpusTotal - Math.round(r.cpusTotal * r.cpusUsed),
        memoryTotalMb: r.memoryTotalMb,
        memoryFreeMb: r.memoryTotalMb - Math.round(r.memoryTotalMb * r.memoryUsed),
        slotsTotal: r.slotsTotal,
        slotsFree: r.slotsTotal - Math.round(r.slotsTotal * r.slotsUsed),
      };
    });

const clusterArb = fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(`node-${String.fromCharCode(97 + i)}`))));

const jobArb = fc.record({
  priority: fc.integer({ min: -2, max: 2 }),
  gpus: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 4 }), weight: 5 }, { arbitrary: fc.integer({ min: 5, max: 10 }), weight: 1 }),
  cpus: fc.oneof({ arbitrary: fc.constantFrom(0, 0, 0.5, 1, 2, 4, 8), weight: 12 }, { arbitrary: fc.constant(40), weight: 1 }),
  memoryMb: fc.oneof({ arbitrary: fc.constantFrom(0, 0, 500, 2000, 8000), weight: 12 }, { arbitrary: fc.constant(70_000), weight: 1 }),
  // Mostly exec jobs (1 slot), some noops (none).
  slots: fc.constantFrom(1, 1, 1, 0),
  nodeSelector: fc.oneof(
    { arbitrary: fc.constant({}), weight: 8 },
    { arbitrary: fc.record({ zone: fc.constantFrom('a', 'b', 'c') }), weight: 1 },
    { arbitrary: fc.record({ model: fc.constantFrom('A100', 'H100', 'B200'), zone: fc.constantFrom('a', 'b') }), weight: 1 },
  ),
});

const queueArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 100_000 }), { maxLength: 40 })
  .chain((ids) => fc.tuple(...ids.map((id) => jobArb.map((j): QueuedJob => ({ id, queue: 'default', createdAt: 0, ...j })))));

describe('place (properties)', () => {
  it('keeps the safety, priority-order, reservation and choice rules on random clusters and queues', () => {
    fc.assert(
      fc.property(clusterArb, queueArb, fc.option(fc.integer({ min: 0, max: 10 })), (nodes, queued, max) => {
        const s: SchedulingSnapshot = { now: 0, nodes, queued };
        const plan = place(s, max === null ? {} : { maxPlacements: max });
        checkPlan(s, plan, max ?? Infinity);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same plan whatever order the snapshot lists the queue in', () => {
    fc.assert(
      fc.property(clusterArb, queueArb, (nodes, queued) => {
        const sorted = inOrder(queued);
        expect(place({ now: 0, nodes, queued })).toEqual(place({ now: 0, nodes, queued: sorted }));
      }),
      { numRuns: 200 },
    );
  });

  it('never runs more exec attempts on a node than its run slots, round after round', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gpus: fc.integer({ min: 0, max: 4 }), slots: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ gpus: fc.integer({ min: 0, max: 2 }), slots: fc.constantFrom(0, 1, 1), rounds: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 20 }),
        (shapes, stream, arrivalsPerRound) => {
          const nodeIds = shapes.map((_, i) => `node-${i}`);
          const running: { jobId: number; nodeId: string; devices: number[]; slots: number; left: number }[] = [];
          let queue: QueuedJob[] = [];
          let next = 0;
          for (let round = 0; round < 30; round++) {
            for (const r of running) r.left--;
            for (let i = running.length - 1; i >= 0; i--) if (running[i]!.left <= 0) running.splice(i, 1);
            for (let k = 0; k < arrivalsPerRound && next < stream.length; k++, next++) {
              const j = stream[next]!;
              queue.push({ id: next + 1, queue: 'default', priority: 0, gpus: j.gpus, cpus: 0, memoryMb: 0, slots: j.slots, nodeSelector: {}, createdAt: 0 });
            }
            const nodes: NodeCapacity[] = shapes.map((shape, i) => {
              const here = running.filter((r) => r.nodeId === nodeIds[i]);
              const busy = new Set(here.flatMap((r) => r.devices));
              const devices = [...Array(shape.gpus).keys()];
              const used = here.reduce((n, r) => n + r.slots, 0);
              return { id: nodeIds[i]!, labels: {}, schedulable: true, devices, freeDevices: devices.filter((d) => !busy.has(d)), cpusTotal: 8, cpusFree: 8, memoryTotalMb: 0, memoryFreeMb: 0, slotsTotal: shape.slots, slotsFree: shape.slots - used };
            });
            const plan = place({ now: round, nodes, queued: queue });
            for (const p of plan.placements) {
              const job = queue.find((j) => j.id === p.jobId)!;
              running.push({ jobId: job.id, nodeId: p.nodeId, devices: p.devices, slots: job.slots, left: stream[job.id - 1]!.rounds });
            }
            const placed = new Set(plan.placements.map((p) => p.jobId));
            queue = queue.filter((j) => !placed.has(j.id));
            shapes.forEach((shape, i) => {
              const here = running.filter((r) => r.nodeId === nodeIds[i]);
              expect(here.reduce((n, r) => n + r.slots, 0)).toBeLessThanOrEqual(shape.slots);
              const held = here.flatMap((r) => r.devices);
              expect(new Set(held).size).toBe(held.length);
            });
          }
          // Nothing is stuck: every job that arrived ran, or waits while the nodes are busy.
          if (running.length === 0) expect(queue.filter((j) => shapes.some((s) => s.gpus >= j.gpus))).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps a 4-GPU job at the head from starving under a stream of 1-GPU jobs', () => {
    const maxDuration = 6;
    let worst = 0;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 4, max: 8 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: maxDuration }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 40 }),
        (deviceCounts, durations, arrivals) => {
          const ids = deviceCounts.map((_, i) => `node-${i}`);
          let d = 0;
          const nextDuration = () => durations[d++ % durations.length]!;
          // Every device starts busy with a 1-GPU job that ends within maxDuration steps.
          const running = ids.flatMap((nodeId, i) => [...Array(deviceCounts[i]).keys()].map((dev) => ({ nodeId, dev, left: nextDuration() })));
          const big: QueuedJob = { id: 1, queue: 'default', priority: 0, gpus: 4, cpus: 0, memoryMb: 0, slots: 1, nodeSelector: {}, createdAt: 0 };
          let queue: QueuedJob[] = [big];
          let nextId = 2;
          // Each step the reserving job either gets its GPUs or moves to a node with more free GPUs
          // (or as many and a lower id); it stays on one node at most maxDuration steps, and with
          // free counts 0..3 on each node there are at most 4 × nodes such moves.
          const bound = (4 * deviceCounts.length + 1) * maxDuration + 1;
          for (let step = 1; step <= bound; step++) {
            for (const r of running) r.left--;
            for (let i = running.length - 1; i >= 0; i--) if (running[i]!.left <= 0) running.splice(i, 1);
            for (let k = 0; k < arrivals[step % arrivals.length]!; k++) queue.push({ ...big, id: nextId++, gpus: 1 });
            const nodes: NodeCapacity[] = ids.map((id, i) => {
              const devices = [...Array(deviceCounts[i]).keys()];
              const busy = new Set(running.filter((r) => r.nodeId === id).map((r) => r.dev));
              const slotsTotal = deviceCounts[i]!;
              return {
                id, labels: {}, schedulable: true, devices, freeDevices: devices.filter((x) => !busy.has(x)),
                cpusTotal: 8, cpusFree: 8, memoryTotalMb: 0, memoryFreeMb: 0, slotsTotal, slotsFree: slotsTotal - busy.size,
              };
            });
            const plan = place({ now: step, nodes, queued: queue });
            checkPlan({ now: step, nodes, queued: queue }, plan);
            for (const p of plan.placements) {
              for (const dev of p.devices) running.push({ nodeId: p.nodeId, dev, left: nextDuration() });
            }
            const started = new Set(plan.placements.map((p) => p.jobId));
            if (started.has(big.id)) {
              worst = Math.max(worst, step);
              return;
            }
            queue = queue.filter((j) => !started.has(j.id));
          }
          throw new Error(`the 4-GPU job was still queued after ${bound} steps`);
        },
      ),
      { numRuns: 300 },
    );
    expect(worst).toBeGreaterThan(0);
  });
});
