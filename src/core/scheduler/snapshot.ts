/**
 * What the scheduler sees: an immutable snapshot of the cluster and the queue,
 * read by the store in one transaction. The scheduler never reads anything else.
 */
export interface NodeCapacity {
  id: string;
  labels: Record<string, string>;
  /** False when the node is down (or, later, cordoned): nothing new goes there. */
  schedulable: boolean;
  /** Indices of every healthy device on the node. */
  devices: number[];
  /** Indices of healthy devices not held by any live attempt, ascending. */
  freeDevices: number[];
  cpusTotal: number;
  cpusFree: number;
  memoryTotalMb: number;
  memoryFreeMb: number;
}

export interface QueuedJob {
  id: number;
  queue: string;
  priority: number;
  gpus: number;
  cpus: number;
  memoryMb: number;
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
}
