/**
 * What the scheduler sees: an immutable snapshot of the cluster and the queue,
 * read by the store in one transaction. The scheduler never reads anything else.
 */
export interface NodeCapacity {
  id: string;
  labels: Record<string, string>;
  /** False when the node is down, cordoned or draining: nothing new goes there. */
  schedulable: boolean;
  /**
   * Why a node is not schedulable ('down' wins over the admin state), for waiting reasons;
   * absent or null when it is schedulable.
   */
  unschedulableBecause?: 'down' | 'cordoned' | 'draining' | null;
  /** Indices of every healthy device on the node. */
  devices: number[];
  /** Indices of healthy devices not held by any live attempt, ascending. */
  freeDevices: number[];
  cpusTotal: number;
  cpusFree: number;
  memoryTotalMb: number;
  memoryFreeMb: number;
  /** How many slot-taking attempts (exec jobs) the node runs at once at most: its `maxRunning`, at least 1. */
  slotsTotal: number;
  /** `slotsTotal` minus the slots live attempts hold. */
  slotsFree: number;
}

export interface QueuedJob {
  id: number;
  queue: string;
  priority: number;
  gpus: number;
  cpus: number;
  memoryMb: number;
  /** Run slots an attempt takes (core/job-spec.ts `slotsOf`): 1 for exec, 0 for noop. */
  slots: number;
  nodeSelector: Record<string, string>;
  createdAt: number;
}

export interface SchedulingSnapshot {
  now: number;
  nodes: NodeCapacity[];
  /** Runnable queued jobs, in priority order (priority desc, then id asc). */
  queued: QueuedJob[];
}

export interface PlannedPlacement {
  jobId: number;
  nodeId: string;
  devices: number[];
}

export interface PlacementPlan {
  placements: PlannedPlacement[];
  /** Jobs that could not start now and hold GPUs on a node so smaller jobs cannot starve them. */
  reservations: { jobId: number; nodeId: string; devices: number[] }[];
  /** Jobs left queued, with why (for `gpuq show`). */
  waiting: { jobId: number; reason: string }[];
  /**
   * Run slots still free on schedulable nodes after this plan (neither taken
   * by a placement nor withheld by a reservation): more than 0 means jobs
   * beyond the snapshot's queue might still start somewhere.
   */
  slotsLeft: number;
}
