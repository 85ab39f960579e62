import type { GpuUsage } from '../core/gpu-usage.js';

/**
 * The Store's GPU accounting (migration 0010, core/gpu-usage.ts): each attempt's per-GPU figures, in table
 * `attempt_gpu_usage`, and the idle flag of running attempts, in `attempts.idle_since`.
 *
 * The figures are an agent's: written while the attempt runs (live, with its telemetry: recordLiveGpuUsage)
 * and for good with its end, in endAttempts' transaction (EndReport.gpuUsage). Both apply only to a live
 * attempt (a late live report never overwrites the final figures). A change of the idle flag between set
 * and clear is a `job.idle` feed event, written by a trigger in the same transaction.
 */
export interface GpuUsageStore {
  /**
   * Records the live figures and idle flags of running attempts of `nodeId`, as its agent reports them;
   * reports of attempts not live on that node are ignored. Returns the attempts whose idle flag changed
   * (set or cleared), with what the metrics and the idle policy need.
   */
  recordLiveGpuUsage(nodeId: string, reports: LiveGpuUsage[], now: number): Promise<IdleChange[]>;
  /** The recorded figures of every attempt of a job, by attempt id then device. */
  listGpuUsage(jobId: number): Promise<AttemptGpuUsage[]>;
  /** Live attempts flagged idle, counted by their job's queue. */
  idleAttemptsByQueue(): Promise<{ queue: string; count: number }[]>;
  /** Every held device with the attempt holding it and its job's queue. */
  deviceHolders(): Promise<DeviceHolder[]>;
}

/** A running attempt's figures so far and its idle flag (agent-link.ts AttemptUsageReport). */
export interface LiveGpuUsage {
  attemptId: number;
  /** Since when all its GPUs have been idle, once flagged; null: not idle. */
  idleSince: number | null;
  gpuUsage: GpuUsage[];
}

/** An attempt whose idle flag was set (idleSince) or cleared (null). */
export interface IdleChange {
  attemptId: number;
  jobId: number;
  queue: string;
  nodeId: string;
  devices: number[];
  idleSince: number | null;
}

export interface AttemptGpuUsage extends GpuUsage {
  attemptId: number;
}

export interface DeviceHolder {
  nodeId: string;
  index: number;
  attemptId: number;
  jobId: number;
  queue: string;
}
