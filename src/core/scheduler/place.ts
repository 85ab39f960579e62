import type { NodeCapacity, PlacementPlan, PlannedPlacement, QueuedJob, SchedulingSnapshot } from './snapshot.js';
import { CPU_EPSILON, canHoldWhenEmpty, countOf, explainUnschedulable, formatNumber, formatSelector, isEmptySelector } from './fits.js';

/**
 * Placement: a pure function from a snapshot to a plan. No I/O, no clock, no
 * randomness; the same snapshot always gives the same plan.
 *
 * Order. Jobs are considered in priority order (priority desc, then id asc);
 * the snapshot promises that order and we re-sort a copy if it is broken.
 *
 * Fit. A job fits a node when the node is schedulable, every nodeSelector entry
 * equals the node's label, and the node has at least `gpus` free devices,
 * `cpus` free CPUs, `memoryMb` free memory and `slots` free run slots, not
 * counting what earlier jobs in this plan took or what a reservation holds (a
 * request of 0 always fits that dimension). Run slots bound how many exec
 * attempts a node runs at once (its maxRunning); a noop takes none.
 *
 * Choice. A GPU job goes to the best-fit node: the fitting node left with the
 * fewest free GPUs after placement (ties: lowest node id), which keeps whole
 * nodes free for large jobs. It gets that node's lowest free device indices.
 * A zero-GPU job goes to the first fitting node in the order "fewest devices,
 * then node id", so CPU-only work lands on CPU-only nodes first.
 *
 * Reservations (the anti-starvation rule; see docs/adr/0001-gpu-reservations.md).
 * A job that needs GPUs, fits nowhere now, but could fit on some schedulable
 * node if that node were empty, reserves the node where it is closest to
 * fitting: the one with the most free GPUs among the nodes that could hold it
 * and are not reserved yet (ties: lowest node id). The reservation withholds,
 * from every later job in this plan, the node's free GPUs, CPUs, memory and run
 * slots up to what the reserving job asks for (min(free, asked) in each
 * dimension; the withheld devices are the lowest free indices). A node holds at most one
 * reservation; a blocked job whose candidate nodes are all reserved waits
 * behind them. Zero-GPU jobs never reserve.
 *   Why this ends starvation: nothing lower in the order can take capacity on
 * the reserved node, so its free GPUs only grow as running attempts finish;
 * the reserving job may move to another node only when that node has strictly
 * more free GPUs (or as many, with a lower id). Since attempts end, the job at
 * the head gets its GPUs within a bounded number of rounds, about
 * (GPUs asked × nodes + 1) × longest attempt; place.property.test.ts checks it.
 *
 * Output. Every queued job ends up in exactly one of `placements` or
 * `waiting`; a job with a reservation is in `waiting` (with why) and also in
 * `reservations`. `slotsLeft` counts the run slots no placement took and no
 * reservation withheld. Jobs that no schedulable node could ever hold wait with the
 * rule they break ("needs 9 GPUs; the largest schedulable node has 8").
 *
 * Cost. Capacity only shrinks during a plan and reservations are never
 * dropped, so "fits nowhere" and "every candidate is reserved" are remembered
 * per job shape (gpus, cpus, memory, selector) and later jobs of the same shape
 * cost O(1). A GPU job that asks for more GPUs than any node has free skips
 * the node scan, so a long queue of blocked GPU jobs costs one pass while
 * zero-GPU jobs behind it are still placed.
 */

export interface PlaceOptions {
  /** Stop after this many placements; the jobs not yet considered wait for the next round. @default Infinity */
  maxPlacements?: number;
}

/** Working capacity of one schedulable node while the plan is built. */
interface NodeState {
  id: string;
  deviceCount: number;
  /** Free device indices, ascending; `free[head..]` are still available. */
  free: number[];
  head: number;
  cpus: number;
  memoryMb: number;
  slots: number;
  reservedBy: number | null;
  withheldCpus: number;
  withheldMemoryMb: number;
  withheldSlots: number;
}

/** What is remembered about every job asking for the same resources. */
interface Shape {
  gpus: number;
  cpus: number;
  memoryMb: number;
  slots: number;
  nodeSelector: Record<string, string>;
  /** Schedulable nodes that could hold the shape when empty, in preference order; null until computed. */
  candidates: NodeState[] | null;
  /** Why no schedulable node could ever hold it, or null. */
  neverReason: string | null;
  /** Fitted nowhere once; capacity only shrinks, so it never will in this plan. */
  blocked: boolean;
  /** Zero-GPU first fit: candidates before this index did not fit and never will in this plan. */
  cursor: number;
  /** Set once every candidate is reserved; reservations are never dropped during a plan. */
  behindReason: string | null;
  /** Zero-GPU waiting reason, valid while `capacityVersion` is unchanged. */
  waitReason: string | null;
  waitVersion: number;
}

export function place(snapshot: SchedulingSnapshot, options: PlaceOptions = {}): PlacementPlan {
  const maxPlacements = options.maxPlacements ?? Infinity;
  if (!(maxPlacements >= 0) || (Number.isFinite(maxPlacements) && !Number.isInteger(maxPlacements))) {
    throw new RangeError(`maxPlacements must be a non-negative integer or Infinity, got ${maxPlacements}`);
  }

  const jobs = inPriorityOrder(snapshot.queued);
  const schedulable = snapshot.nodes.filter((n) => n.schedulable).sort((a, b) => compareIds(a.id, b.id));
  const states = new Map<NodeCapacity, NodeState>();
  for (const n of schedulable) states.set(n, toState(n));

  const plan: PlacementPlan = { placements: [], reservations: [], waiting: [], slotsLeft: 0 };
  let unreserved = schedulable.length;
  /** Bumped on every change of capacity; zero-GPU waiting reasons are cached against it. */
  let capacityVersion = 0;
  // How many nodes have each count of available GPUs, so the largest count is known without a scan.
  const nodesWithAvailable: number[] = [];
  let maxAvailableGpus = 0;
  for (const s of states.values()) {
    const n = s.free.length;
    nodesWithAvailable[n] = (nodesWithAvailable[n] ?? 0) + 1;
    maxAvailableGpus = Math.max(maxAvailableGpus, n);
  }
  /** Records that `s` gave up `gpus` available GPUs (to a placement or a reservation). */
  const tookGpus = (s: NodeState, gpus: number): void => {
    if (gpus === 0) return;
    const now = s.free.length - s.head;
    nodesWithAvailable[now + gpus]!--;
    nodesWithAvailable[now] = (nodesWithAvailable[now] ?? 0) + 1;
    while (maxAvailableGpus > 0 && !nodesWithAvailable[maxAvailableGpus]) maxAvailableGpus--;
  };

  const shapes = new Map<string, Shape>();
  let last: Shape | null = null;
  const shapeOf = (job: QueuedJob): Shape => {
    if (
      last !== null &&
      last.gpus === job.gpus &&
      last.cpus === job.cpus &&
      last.memoryMb === job.memoryMb &&
      last.slots === job.slots &&
      (last.nodeSelector === job.nodeSelector || (isEmptySelector(last.nodeSelector) && isEmptySelector(job.nodeSelector)))
    ) {
      return last;
    }
    const key = `${job.gpus}|${job.cpus}|${job.memoryMb}|${job.slots}|${selectorKey(job.nodeSelector)}`;
    let shape = shapes.get(key);
    if (shape === undefined) {
      shape = {
        gpus: job.gpus,
        cpus: job.cpus,
        memoryMb: job.memoryMb,
        slots: job.slots,
        nodeSelector: job.nodeSelector,
        candidates: null,
        neverReason: null,
        blocked: false,
        cursor: 0,
        behindReason: null,
        waitReason: null,
        waitVersion: -1,
      };
      shapes.set(key, shape);
    }
    last = shape;
    return shape;
  };

  const candidatesOf = (shape: Shape): NodeState[] => {
    if (shape.candidates !== null) return shape.candidates;
    const nodes = schedulable.filter((n) => canHoldWhenEmpty(shape, n));
    if (shape.gpus === 0) nodes.sort((a, b) => a.devices.length - b.devices.length || compareIds(a.id, b.id));
    shape.candidates = nodes.map((n) => states.get(n)!);
    if (nodes.length === 0) shape.neverReason = neverFitReason(shape, snapshot.nodes, schedulable);
    return shape.candidates;
  };

  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    if (plan.placements.length >= maxPlacements) {
      const reason = `not considered this round: the plan reached its limit of ${countOf(maxPlacements, 'placement')}`;
      for (let j = i; j < jobs.length; j++) plan.waiting.push({ jobId: jobs[j]!.id, reason });
      break;
    }
    const shape = shapeOf(job);
    const candidates = candidatesOf(shape);
    if (!shape.blocked) {
      const node = shape.gpus > 0 ? bestFit(shape, candidates, maxAvailableGpus) : firstFit(shape, candidates);
      if (node !== null) {
        plan.placements.push(take(node, job));
        tookGpus(node, job.gpus);
        capacityVersion++;
        continue;
      }
      shape.blocked = true;
    }

    if (shape.neverReason !== null) {
      plan.waiting.push({ jobId: job.id, reason: shape.neverReason });
    } else if (shape.gpus === 0) {
      if (shape.waitVersion !== capacityVersion) {
        shape.waitReason = zeroGpuWaitReason(shape, candidates);
        shape.waitVersion = capacityVersion;
      }
      plan.waiting.push({ jobId: job.id, reason: shape.waitReason! });
    } else {
      const node = shape.behindReason === null && unreserved > 0 ? reservationNode(candidates) : null;
      if (node !== null) {
        const reservation = reserve(node, job);
        plan.reservations.push(reservation);
        plan.waiting.push({ jobId: job.id, reason: reservedReason(node, job, reservation.devices.length) });
        tookGpus(node, reservation.devices.length);
        unreserved--;
        capacityVersion++;
      } else {
        shape.behindReason ??= behindReason(shape, candidates);
        plan.waiting.push({ jobId: job.id, reason: shape.behindReason });
      }
    }
  }
  for (const s of states.values()) plan.slotsLeft += Math.max(0, s.slots);
  return plan;
}

function toState(n: NodeCapacity): NodeState {
  const healthy = new Set(n.devices);
  const free = [...new Set(n.freeDevices)].filter((d) => healthy.has(d)).sort((a, b) => a - b);
  return {
    id: n.id,
    deviceCount: n.devices.length,
    free,
    head: 0,
    cpus: n.cpusFree,
    memoryMb: n.memoryFreeMb,
    slots: n.slotsFree,
    reservedBy: null,
    withheldCpus: 0,
    withheldMemoryMb: 0,
    withheldSlots: 0,
  };
}

function fitsNow(s: NodeState, shape: Shape): boolean {
  return (
    s.free.length - s.head >= shape.gpus &&
    (shape.cpus <= 0 || s.cpus + CPU_EPSILON >= shape.cpus) &&
    (shape.memoryMb <= 0 || s.memoryMb >= shape.memoryMb) &&
    (shape.slots <= 0 || s.slots >= shape.slots)
  );
}

/** The fitting candidate left with the fewest free GPUs; candidates are in id order, so ties go to the lowest id. */
function bestFit(shape: Shape, candidates: NodeState[], maxAvailableGpus: number): NodeState | null {
  if (shape.gpus > maxAvailableGpus) return null;
  let best: NodeState | null = null;
  let bestLeft = Infinity;
  for (const s of candidates) {
    if (!fitsNow(s, shape)) continue;
    const left = s.free.length - s.head - shape.gpus;
    if (left < bestLeft) {
      best = s;
      bestLeft = left;
      if (left === 0) break;
    }
  }
  return best;
}

/** First fitting candidate from the shape's cursor on; the cursor skips nodes that already failed it. */
function firstFit(shape: Shape, candidates: NodeState[]): NodeState | null {
  for (; shape.cursor < candidates.length; shape.cursor++) {
    const s = candidates[shape.cursor]!;
    if (fitsNow(s, shape)) return s;
  }
  return null;
}

function take(s: NodeState, job: QueuedJob): PlannedPlacement {
  const devices = s.free.slice(s.head, s.head + job.gpus);
  s.head += job.gpus;
  s.cpus -= job.cpus;
  s.memoryMb -= job.memoryMb;
  s.slots -= job.slots;
  return { jobId: job.id, nodeId: s.id, devices };
}

/** Among unreserved candidates, the one with the most free GPUs; ties to the lowest id (candidates are in id order). */
function reservationNode(candidates: NodeState[]): NodeState | null {
  let best: NodeState | null = null;
  for (const s of candidates) {
    if (s.reservedBy !== null) continue;
    if (best === null || s.free.length - s.head > best.free.length - best.head) best = s;
  }
  return best;
}

function reserve(s: NodeState, job: QueuedJob): { jobId: number; nodeId: string; devices: number[] } {
  const gpus = Math.min(s.free.length - s.head, job.gpus);
  const devices = s.free.slice(s.head, s.head + gpus);
  s.head += gpus;
  s.withheldCpus = Math.max(0, Math.min(s.cpus, job.cpus));
  s.cpus -= s.withheldCpus;
  s.withheldMemoryMb = Math.max(0, Math.min(s.memoryMb, job.memoryMb));
  s.memoryMb -= s.withheldMemoryMb;
  s.withheldSlots = Math.max(0, Math.min(s.slots, job.slots));
  s.slots -= s.withheldSlots;
  s.reservedBy = job.id;
  return { jobId: job.id, nodeId: s.id, devices };
}

/** "waiting for 2 more GPUs (reserved on node-a)": what the reserved node still lacks. */
function reservedReason(s: NodeState, job: QueuedJob, heldGpus: number): string {
  const missing: string[] = [];
  if (job.gpus > heldGpus) missing.push(`${job.gpus - heldGpus} more GPU${job.gpus - heldGpus === 1 ? '' : 's'}`);
  const cpus = job.cpus - s.withheldCpus;
  if (cpus > CPU_EPSILON) missing.push(`${countOf(cpus, 'more CPU')}`);
  const memory = job.memoryMb - s.withheldMemoryMb;
  if (memory > 0) missing.push(`${memory} MiB more memory`);
  const slots = job.slots - s.withheldSlots;
  if (slots > 0) missing.push(runSlots(slots));
  return `waiting for ${missing.join(' and ')} (reserved on ${s.id})`;
}

function behindReason(shape: Shape, candidates: NodeState[]): string {
  const holders = candidates.slice(0, 3).map((s) => `job ${s.reservedBy} on ${s.id}`);
  if (candidates.length > 3) holders.push(`${candidates.length - 3} more`);
  const nodes = candidates.length === 1 ? 'the only schedulable node that could hold it is' : 'every schedulable node that could hold it is';
  return `waiting behind a reservation: needs ${countOf(shape.gpus, 'GPU')} and ${nodes} reserved for an earlier job (${holders.join(', ')})`;
}

function zeroGpuWaitReason(shape: Shape, candidates: NodeState[]): string {
  const holder = candidates.find(
    (s) =>
      s.reservedBy !== null &&
      (shape.cpus <= 0 || s.cpus + s.withheldCpus + CPU_EPSILON >= shape.cpus) &&
      (shape.memoryMb <= 0 || s.memoryMb + s.withheldMemoryMb >= shape.memoryMb) &&
      (shape.slots <= 0 || s.slots + s.withheldSlots >= shape.slots),
  );
  if (holder !== undefined) {
    return `waiting behind a reservation: ${holder.id} has the CPUs/memory/run slots free but holds them for job ${holder.reservedBy}`;
  }
  const wants: string[] = [];
  if (shape.cpus > 0) wants.push(countOf(shape.cpus, 'CPU'));
  if (shape.memoryMb > 0) wants.push(`${shape.memoryMb} MiB of memory`);
  const matching = isEmptySelector(shape.nodeSelector) ? '' : ` matching nodeSelector ${formatSelector(shape.nodeSelector)}`;
  if (shape.slots > 0 && candidates.every((s) => s.slots < shape.slots)) {
    // The common wait of a plain exec job: every node already runs its maxRunning attempts.
    if (wants.length === 0) return `waiting for a free run slot: every schedulable node${matching} runs as many jobs as its maxRunning allows`;
    wants.push(runSlots(shape.slots));
  }
  if (wants.length === 0) return `waiting for a free run slot on one schedulable node${matching}`;
  return `waiting for ${wants.join(' and ')} to be free on one schedulable node${matching}`;
}

/** "a free run slot", "2 free run slots". */
function runSlots(n: number): string {
  return n === 1 ? 'a free run slot' : `${formatNumber(n)} free run slots`;
}

function neverFitReason(shape: Shape, all: readonly NodeCapacity[], schedulable: readonly NodeCapacity[]): string {
  if (schedulable.length === 0) {
    return all.length === 0 ? 'no nodes have joined yet' : `no node is schedulable (${describeUnschedulable(all)})`;
  }
  const why = explainUnschedulable(shape, schedulable, { noun: 'schedulable node', verb: 'needs' }) ?? 'no schedulable node can hold it';
  // Say so when a node that is out of service (an operator's cordon, most often) could hold the job.
  const idle = all.filter((n) => !n.schedulable && canHoldWhenEmpty(shape, n));
  return idle.length === 0 ? why : `${why}; ${describeUnschedulable(idle)}`;
}

const MAX_NAMED_NODES = 3;

/** "node a is cordoned", "2 nodes cordoned (a, b), 1 node down (c)": the given unschedulable nodes by why. */
function describeUnschedulable(nodes: readonly NodeCapacity[]): string {
  const only = nodes.length === 1 ? nodes[0] : undefined;
  if (only) return `node ${only.id} is ${only.unschedulableBecause ?? 'down or cordoned'}`;
  const byWhy = new Map<string, string[]>();
  for (const n of nodes) {
    const why = n.unschedulableBecause ?? 'down or cordoned';
    const ids = byWhy.get(why);
    if (ids) ids.push(n.id);
    else byWhy.set(why, [n.id]);
  }
  return [...byWhy]
    .map(([why, ids]) => {
      const named = ids.slice(0, MAX_NAMED_NODES).join(', ') + (ids.length > MAX_NAMED_NODES ? ', …' : '');
      return `${countOf(ids.length, 'node')} ${why} (${named})`;
    })
    .join(', ');
}

function selectorKey(selector: Record<string, string>): string {
  if (isEmptySelector(selector)) return '';
  return JSON.stringify(Object.keys(selector).sort().map((k) => [k, selector[k]]));
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function before(a: QueuedJob, b: QueuedJob): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.id < b.id);
}

/** The queue as given when it is already in order (the usual case, checked in O(n)); otherwise a sorted copy. */
function inPriorityOrder(queued: readonly QueuedJob[]): readonly QueuedJob[] {
  for (let i = 1; i < queued.length; i++) {
    if (!before(queued[i - 1]!, queued[i]!)) {
      return [...queued].sort((a, b) => b.priority - a.priority || a.id - b.id);
    }
  }
  return queued;
}
