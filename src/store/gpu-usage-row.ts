import type { GpuUsage } from '../core/gpu-usage.js';
import type { AttemptGpuUsage } from './gpu-usage-store.js';

/** A row of `attempt_gpu_usage` (migration 0010) as both stores read it. */
export interface GpuUsageRow {
  attempt_id: number;
  device_index: number;
  gpu_seconds: number;
  mean_utilization_pct: number | null;
  peak_utilization_pct: number | null;
  peak_memory_mb: number | null;
  idle_seconds: number;
  samples: number;
}

export const GPU_USAGE_COLUMNS = 'attempt_id, device_index, gpu_seconds, mean_utilization_pct, peak_utilization_pct, peak_memory_mb, idle_seconds, samples';

export function gpuUsageFromRow(row: GpuUsageRow): AttemptGpuUsage {
  return {
    attemptId: row.attempt_id,
    device: row.device_index,
    gpuSeconds: row.gpu_seconds,
    meanUtilizationPct: row.mean_utilization_pct,
    peakUtilizationPct: row.peak_utilization_pct,
    peakMemoryMb: row.peak_memory_mb,
    idleSeconds: row.idle_seconds,
    samples: row.samples,
  };
}

/** The figures of one device as the columns after attempt_id, in GPU_USAGE_COLUMNS order. */
export function gpuUsageValues(u: GpuUsage): [number, number, number | null, number | null, number | null, number, number] {
  return [u.device, u.gpuSeconds, u.meanUtilizationPct, u.peakUtilizationPct, u.peakMemoryMb, u.idleSeconds, u.samples];
}
