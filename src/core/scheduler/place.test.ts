import { describe, it, expect } from 'vitest';
import { place } from './place.js';
import type { NodeCapacity, QueuedJob, SchedulingSnapshot } from './snapshot.js';

interface NodeOptions extends Partial<NodeCapacity> {
  gpus?: number;
  busy?: number[];
}

function node(id: string, o: NodeOptions = {}): NodeCapacity {
  const devices = o.devices ?? [...Array(o.gpus ?? 8).keys()];
  return {
    id,
    labels: {},
    schedulable: true,
    devices,
    freeDevices: devices.filter((d) => !(o.busy ?? []).includes(d)),
    cpusTotal: 64,
    cpusFree: 64,
    memoryTotalMb: 512_000,
    memoryFreeMb: 512_000,
    slotsTotal: 64,
    slotsFree: 64,
    ...o,
  };
}

function job(id: number, o: Partial<QueuedJob> = {}): QueuedJob {
  return { id, queue: 'default', priority: 0, gpus: 0, cpus: 0, memoryMb: 0, slots: 1, nodeSelector: {}, createdAt: 0, ...o };
}

function snap(nodes: NodeCapacity[], queued: QueuedJob[]): SchedulingSnapshot {
  return { now: 1_700_000_000_000, nodes, queued };
}

const reasonOf = (plan: ReturnType<typeof place>, jobId: number) => plan.waiting.find((w) => w.jobId === jobId)?.reason;

describe('place: fitting and choice', () => {
  it('gives a job the lowest free device indices', () => {
    const plan = place(snap([node('a', { busy: [0, 2, 4] })], [job(1, { gpus: 2 })]));
    expect(plan.placements).toEqual([{ jobId: 1, nodeId: 'a', devices: [1, 3] }]);
  });

  it('never gives one device to two jobs', () => {
    const plan = place(snap([node('a', { gpus: 4 })], [job(1, { gpus: 3 }), job(2, { gpus: 1 }), job(3, { gpus: 1 })]));
    expect(plan.placements.map((p) => p.devices)).toEqual([[0, 1, 2], [3]]);
    expect(reasonOf(plan, 3)).toBeDefined();
  });

  it('prefers the fitting node left with the fewest free GPUs (best fit), ties to the lowest id', () => {
    const nodes = [node('big', { gpus: 8 }), node('small-b', { gpus: 8, busy: [0, 1, 2, 3, 4, 5] }), node('small-a', { gpus: 8, busy: [0, 1, 2, 3, 4, 5] })];
    const plan = place(snap(nodes, [job(1, { gpus: 2 }), job(2, { gpus: 2 }), job(3, { gpus: 8 })]));
    expect(plan.placements).toEqual([
      { jobId: 1, nodeId: 'small-a', devices: [6, 7] },
      { jobId: 2, nodeId: 'small-b', devices: [6, 7] },
      { jobId: 3, nodeId: 'big', devices: [0, 1, 2, 3, 4, 5, 6, 7] },
    ]);
  });

  it('sends zero-GPU jobs to nodes with the fewest devices first', () => {
    const nodes = [node('a-gpu', { gpus: 8 }), node('b-cpu', { gpus: 0, cpusFree: 4 }), node('c-gpu', { gpus: 2 })];
    const plan = place(snap(nodes, [job(1, { cpus: 4 }), job(2, { cpus: 4 }), job(3, { cpus: 4 })]));
    expect(plan.placements).toEqual([
      { jobId: 1, nodeId: 'b-cpu', devices: [] },
      { jobId: 2, nodeId: 'c-gpu', devices: [] },
      { jobId: 3, nodeId: 'c-gpu', devices: [] },
    ]);
  });

  it('honours every nodeSelector entry', () => {
    const nodes = [node('a', { labels: { model: 'A100', zone: 'eu' } }), node('b', { labels: { model: 'H100', zone: 'us' } }), node('c', { labels: { model: 'H100', zone: 'eu' } })];
    const plan = place(snap(nodes, [job(1, { gpus: 1, nodeSelector: { model: 'H100', zone: 'eu' } })]));
    expect(plan.placements).toEqual([{ jobId: 1, nodeId: 'c', devices: [0] }]);
  });

  it('tells apart jobs that ask for the same resources with different selectors', () => {
    const nodes = [node('a', { gpus: 1, labels: { zone: 'eu' } }), node('b', { gpus: 1, labels: { zone: 'us' } })];
    const queued = [job(1, { gpus: 1, nodeSelector: { zone: 'eu' } }), job(2, { gpus: 1, nodeSelector: { zone: 'eu' } }), job(3, { gpus: 1, nodeSelector: { zone: 'us' } })];
    const plan = place(snap(nodes, queued));
    expect(plan.placements).toEqual([
      { jobId: 1, nodeId: 'a', devices: [0] },
      { jobId: 3, nodeId: 'b', devices: [0] },
    ]);
  });

  it('skips nodes that are not schedulable', () => {
    const plan = place(snap([node('a', { schedulable: false }), node('b', { gpus: 2 })], [job(1, { gpus: 1 })]));
    expect(plan.placements).toEqual([{ jobId: 1, nodeId: 'b', devices: [0] }]);
  });

  it('checks free CPUs and memory, counting what earlier placements took', () => {
    const nodes = [node('a', { gpus: 0, cpusFree: 6, memoryFreeMb: 3000 })];
    const plan = place(snap(nodes, [job(1, { cpus: 4, memoryMb: 1000 }), job(2, { cpus: 4 }), job(3, { cpus: 2, memoryMb: 2001 }), job(4, { cpus: 2, memoryMb: 2000 })]));
    expect(plan.placements.map((p) => p.jobId)).toEqual([1, 4]);
  });

  it('lets a job asking 0 of something fit a node with none of it free', () => {
    const plan = place(snap([node('a', { gpus: 0, cpusFree: 0, memoryFreeMb: 0 })], [job(1)]));
    expect(plan.placements).toEqual([{ jobId: 1, nodeId: 'a', devices: [] }]);
  });

  it('adds fractional CPUs without floating-point drift', () => {
    const plan = place(snap([node('a', { gpus: 0, cpusFree: 0.3 })], [job(1, { cpus: 0.2 }), job(2, { cpus: 0.1 }), job(3, { cpus: 0.1 })]));
    expect(plan.placements.map((p) => p.jobId)).toEqual([1, 2]);
  });

  it('ignores free devices that are not among the healthy devices, and duplicates', () => {
    const plan = place(snap([node('a', { devices: [0, 1], freeDevices: [1, 1, 5] })], [job(1, { gpus: 1 }), job(2, { gpus: 1 })]));
    expect(plan.placements).toEqual([{ jobId: 1, nodeId: 'a', devices: [1] }]);
  });

  it('considers jobs by priority, then id, even when the snapshot is out of order', () => {
    const queued = [job(3, { gpus: 1 }), job(1, { gpus: 1, priority: -1 }), job(2, { gpus: 1, priority: 5 })];
    const plan = place(snap([node('a', { gpus: 2 })], queued));
    expect(plan.placements.map((p) => p.jobId)).toEqual([2, 3]);
    expect(plan.waiting.map((w) => w.jobId)).toEqual([1]);
  });

  it('puts every queued job in exactly one of placements and waiting', () => {
    const queued = [job(1, { gpus: 4 }), job(2, { gpus: 9 }), job(3), job(4, { gpus: 1 })];
    const plan = place(snap([node('a', { gpus: 4, busy: [0] })], queued));
    const ids = [...plan.placements.map((p) => p.jobId), ...plan.waiting.map((w) => w.jobId)].sort();
    expect(ids).toEqual([1, 2, 3, 4]);
  });
});

describe('place: reasons for jobs that can never run here', () => {
  it('names the GPU rule against the largest schedulable node', () => {
    const plan = place(snap([node('a', { gpus: 8 }), node('b', { gpus: 16, schedulable: false, unschedulableBecause: 'down' })], [job(1, { gpus: 9 })]));
    expect(plan.placements).toEqual([]);
    expect(plan.reservations).toEqual([]);
    expect(reasonOf(plan, 1)).toBe('needs 9 GPUs; the largest schedulable node has 8; node b is down');
  });

  it('names the selector', () => {
    const plan = place(snap([node('a', { labels: { model: 'A100' } })], [job(1, { nodeSelector: { model: 'H200' } })]));
    expect(reasonOf(plan, 1)).toBe('no schedulable node matches nodeSelector model=H200 (schedulable nodes have model=A100)');
  });

  it('says when no node is schedulable, or none has joined', () => {
    expect(reasonOf(place(snap([node('a', { schedulable: false })], [job(1)])), 1)).toBe('no node is schedulable (node a is down or cordoned)');
    expect(reasonOf(place(snap([node('a', { schedulable: false, unschedulableBecause: 'cordoned' })], [job(1)])), 1)).toBe('no node is schedulable (node a is cordoned)');
    const mixed = [
      node('a', { schedulable: false, unschedulableBecause: 'cordoned' }),
      node('b', { schedulable: false, unschedulableBecause: 'draining' }),
      node('c', { schedulable: false, unschedulableBecause: 'cordoned' }),
    ];
    expect(reasonOf(place(snap(mixed, [job(1)])), 1)).toBe('no node is schedulable (2 nodes cordoned (a, c), 1 node draining (b))');
    // Schedulable nodes are too small; a cordoned one could hold it.
    const small = place(snap([node('a', { gpus: 2 }), node('b', { schedulable: false, unschedulableBecause: 'cordoned' })], [job(1, { gpus: 4 })]));
    expect(reasonOf(small, 1)).toBe('needs 4 GPUs; the largest schedulable node has 2; node b is cordoned');
    expect(reasonOf(place(snap([], [job(1)])), 1)).toBe('no nodes have joined yet');
  });
});

describe('place: reservations', () => {
  it('holds the free GPUs of the node a blocked job is closest to fitting on, so smaller later jobs cannot take them', () => {
    const nodes = [node('a', { gpus: 8, busy: [0, 1, 2, 3, 4, 5] }), node('b', { gpus: 8, busy: [0, 1, 2, 3, 4, 5, 6] })];
    const plan = place(snap(nodes, [job(1, { gpus: 4 }), job(2, { gpus: 1 }), job(3, { gpus: 1 }), job(4, { gpus: 1 })]));
    expect(plan.placements).toEqual([{ jobId: 2, nodeId: 'b', devices: [7] }]);
    // Job 3 fits nowhere either, so it takes the next unreserved node (holding nothing yet): the next GPU freed on b is its.
    expect(plan.reservations).toEqual([
      { jobId: 1, nodeId: 'a', devices: [6, 7] },
      { jobId: 3, nodeId: 'b', devices: [] },
    ]);
    expect(reasonOf(plan, 1)).toBe('waiting for 2 more GPUs (reserved on a)');
    expect(reasonOf(plan, 3)).toBe('waiting for 1 more GPU (reserved on b)');
    expect(reasonOf(plan, 4)).toBe(
      'waiting behind a reservation: needs 1 GPU and every schedulable node that could hold it is reserved for an earlier job (job 1 on a, job 3 on b)',
    );
  });

  it('breaks ties between equally free nodes by node id, and only reserves nodes that could hold the job', () => {
    const nodes = [node('c', { gpus: 8, busy: [0, 1, 2, 3, 4, 5, 6] }), node('b', { gpus: 8, busy: [0, 1, 2, 3, 4, 5, 6] }), node('a', { gpus: 2 })];
    const plan = place(snap(nodes, [job(1, { gpus: 4 })]));
    expect(plan.reservations).toEqual([{ jobId: 1, nodeId: 'b', devices: [7] }]);
  });

  it('lets a node hold one reservation; the next blocked job reserves another node, the one after waits behind them', () => {
    const nodes = [node('a', { busy: [0, 1, 2, 3, 4, 5] }), node('b', { busy: [0, 1, 2, 3, 4, 5, 6] })];
    const plan = place(snap(nodes, [job(1, { gpus: 4 }), job(2, { gpus: 4 }), job(3, { gpus: 4 })]));
    expect(plan.reservations).toEqual([
      { jobId: 1, nodeId: 'a', devices: [6, 7] },
      { jobId: 2, nodeId: 'b', devices: [7] },
    ]);
    expect(reasonOf(plan, 2)).toBe('waiting for 3 more GPUs (reserved on b)');
    expect(reasonOf(plan, 3)).toMatch(/^waiting behind a reservation: .*\(job 1 on a, job 2 on b\)$/);
  });

  it('still places higher-priority jobs and backfills capacity that no reservation holds', () => {
    const nodes = [node('a', { gpus: 8, busy: [0, 1, 2, 3, 4] }), node('b', { gpus: 2 })];
    const queued = [job(1, { gpus: 1, priority: 9 }), job(2, { gpus: 4 }), job(3, { gpus: 1 }), job(4, { gpus: 1 })];
    const plan = place(snap(nodes, queued));
    expect(plan.placements).toEqual([
      { jobId: 1, nodeId: 'b', devices: [0] },
      { jobId: 3, nodeId: 'b', devices: [1] },
    ]);
    expect(plan.reservations).toEqual([
      { jobId: 2, nodeId: 'a', devices: [5, 6, 7] },
      { jobId: 4, nodeId: 'b', devices: [] },
    ]);
  });

  it('withholds only what the blocked job asks for: a job short of CPUs holds its GPUs and CPUs, not the rest', () => {
    const nodes = [node('a', { gpus: 8, cpusFree: 4 })];
    const plan = place(snap(nodes, [job(1, { gpus: 2, cpus: 8 }), job(2, { gpus: 6 }), job(3, { gpus: 1 }), job(4, { cpus: 1 })]));
    expect(plan.reservations).toEqual([{ jobId: 1, nodeId: 'a', devices: [0, 1] }]);
    expect(plan.placements).toEqual([{ jobId: 2, nodeId: 'a', devices: [2, 3, 4, 5, 6, 7] }]);
    expect(reasonOf(plan, 1)).toBe('waiting for 4 more CPUs (reserved on a)');
    expect(reasonOf(plan, 4)).toBe('waiting behind a reservation: a has the CPUs/memory/run slots free but holds them for job 1');
  });

  it('withholds no more CPUs and memory than the blocked job asks for', () => {
    const nodes = [node('a', { gpus: 4, busy: [0, 1, 2], cpusFree: 8, memoryFreeMb: 1000 })];
    const plan = place(snap(nodes, [job(1, { gpus: 2, cpus: 2, memoryMb: 400 }), job(2, { cpus: 6, memoryMb: 600 }), job(3, { cpus: 0.5 })]));
    expect(plan.reservations).toEqual([{ jobId: 1, nodeId: 'a', devices: [3] }]);
    expect(plan.placements).toEqual([{ jobId: 2, nodeId: 'a', devices: [] }]);
    expect(reasonOf(plan, 3)).toBe('waiting behind a reservation: a has the CPUs/memory/run slots free but holds them for job 1');
  });

  it('names every missing resource of a reserved job', () => {
    const plan = place(snap([node('a', { gpus: 4, busy: [0, 1, 2], cpusFree: 1, memoryFreeMb: 100 })], [job(1, { gpus: 2, cpus: 2, memoryMb: 500 })]));
    expect(reasonOf(plan, 1)).toBe('waiting for 1 more GPU and 1 more CPU and 400 MiB more memory (reserved on a)');
  });

  it('never reserves for zero-GPU jobs; they wait for capacity', () => {
    const plan = place(snap([node('a', { gpus: 0, cpusFree: 2 })], [job(1, { cpus: 4 }), job(2, { cpus: 1 })]));
    expect(plan.reservations).toEqual([]);
    expect(plan.placements.map((p) => p.jobId)).toEqual([2]);
    expect(reasonOf(plan, 1)).toBe('waiting for 4 CPUs to be free on one schedulable node');
  });

  it('names the selector when a zero-GPU job waits for capacity', () => {
    const plan = place(snap([node('a', { gpus: 0, memoryFreeMb: 10, labels: { zone: 'eu' } })], [job(1, { memoryMb: 20, nodeSelector: { zone: 'eu' } })]));
    expect(reasonOf(plan, 1)).toBe('waiting for 20 MiB of memory to be free on one schedulable node matching nodeSelector zone=eu');
  });
});

describe('place: run slots', () => {
  it('places no more exec jobs on a node than it has free run slots; a noop needs none', () => {
    const plan = place(snap([node('a', { gpus: 0, slotsTotal: 4, slotsFree: 2 })], [job(1), job(2), job(3), job(4, { slots: 0 }), job(5)]));
    expect(plan.placements.map((p) => p.jobId)).toEqual([1, 2, 4]);
    expect(reasonOf(plan, 3)).toBe('waiting for a free run slot: every schedulable node runs as many jobs as its maxRunning allows');
    expect(reasonOf(plan, 5)).toBe(reasonOf(plan, 3));
    expect(plan.slotsLeft).toBe(0);
  });

  it('counts the run slots left after the plan, not those a reservation withholds or an unschedulable node has', () => {
    const nodes = [node('a', { gpus: 2, busy: [0], slotsFree: 3 }), node('b', { gpus: 0, slotsFree: 2 }), node('c', { slotsFree: 5, schedulable: false })];
    const plan = place(snap(nodes, [job(1, { gpus: 2 }), job(2)]));
    expect(plan.reservations.map((r) => r.jobId)).toEqual([1]);
    expect(plan.placements.map((p) => [p.jobId, p.nodeId])).toEqual([[2, 'b']]);
    expect(plan.slotsLeft).toBe(2 + 1);
    expect(place(snap(nodes, [])).slotsLeft).toBe(5);
  });

  it('moves on to the next node when one runs out of slots', () => {
    const nodes = [node('a', { gpus: 0, slotsFree: 1 }), node('b', { gpus: 0, slotsFree: 2 }), node('c', { gpus: 2, slotsFree: 0 })];
    const plan = place(snap(nodes, [job(1), job(2), job(3), job(4, { nodeSelector: { zone: 'x' } }), job(5)]));
    expect(plan.placements.map((p) => [p.jobId, p.nodeId])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'b'],
    ]);
    expect(reasonOf(plan, 5)).toBe('waiting for a free run slot: every schedulable node runs as many jobs as its maxRunning allows');
  });

  it('names the selector when a job waits for a slot, and the other resources it waits for', () => {
    const nodes = [node('a', { labels: { zone: 'eu' }, slotsFree: 0, cpusFree: 1 })];
    const plan = place(snap(nodes, [job(1, { nodeSelector: { zone: 'eu' } }), job(2, { cpus: 2 })]));
    expect(reasonOf(plan, 1)).toBe('waiting for a free run slot: every schedulable node matching nodeSelector zone=eu runs as many jobs as its maxRunning allows');
    expect(reasonOf(plan, 2)).toBe('waiting for 2 CPUs and a free run slot to be free on one schedulable node');
  });

  it('does not place a GPU job on free GPUs without a free slot: it reserves the node and says what it waits for', () => {
    const plan = place(snap([node('a', { gpus: 8, busy: [0], slotsFree: 0 })], [job(1, { gpus: 2 }), job(2, { slots: 0 })]));
    expect(plan.placements).toEqual([{ jobId: 2, nodeId: 'a', devices: [] }]);
    expect(plan.reservations).toEqual([{ jobId: 1, nodeId: 'a', devices: [1, 2] }]);
    expect(reasonOf(plan, 1)).toBe('waiting for a free run slot (reserved on a)');
  });

  it('withholds a free slot for a reserved GPU job from the jobs after it', () => {
    const nodes = [node('a', { gpus: 4, busy: [0, 1, 2], slotsFree: 2 })];
    const plan = place(snap(nodes, [job(1, { gpus: 2 }), job(2), job(3), job(4, { slots: 0 })]));
    expect(plan.reservations).toEqual([{ jobId: 1, nodeId: 'a', devices: [3] }]);
    expect(plan.placements.map((p) => p.jobId)).toEqual([2, 4]);
    expect(reasonOf(plan, 1)).toBe('waiting for 1 more GPU (reserved on a)');
    expect(reasonOf(plan, 3)).toBe('waiting behind a reservation: a has the CPUs/memory/run slots free but holds them for job 1');
  });
});

describe('place: options', () => {
  it('stops after maxPlacements and says why the rest were not considered', () => {
    const plan = place(snap([node('a')], [job(1, { gpus: 1 }), job(2, { gpus: 1 }), job(3, { gpus: 1 })]), { maxPlacements: 2 });
    expect(plan.placements.map((p) => p.jobId)).toEqual([1, 2]);
    expect(plan.waiting).toEqual([{ jobId: 3, reason: 'not considered this round: the plan reached its limit of 2 placements' }]);
  });

  it('places nothing with maxPlacements 0 and refuses nonsense', () => {
    expect(place(snap([node('a')], [job(1)]), { maxPlacements: 0 }).placements).toEqual([]);
    expect(() => place(snap([], []), { maxPlacements: -1 })).toThrow(RangeError);
    expect(() => place(snap([], []), { maxPlacements: 1.5 })).toThrow(RangeError);
  });

  it('is deterministic and leaves the snapshot untouched', () => {
    const s = snap([node('a', { busy: [3] }), node('b', { gpus: 2 })], [job(2, { gpus: 1 }), job(1, { gpus: 4, cpus: 2 }), job(3, { cpus: 1 })]);
    const before = structuredClone(s);
    expect(place(s)).toEqual(place(structuredClone(s)));
    expect(s).toEqual(before);
  });
});
