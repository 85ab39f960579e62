import type { GpuUsageGroup, ReportFigures } from '../core/slo-report.js';

/** Rows of the SLO report's statements as both databases return them, mapped once (report-queries.ts in each store). */

/** A queue and owner's GPU usage over the range. */
export interface UsageRow {
  queue: string;
  owner: string | null;
  gpu_seconds: number;
  sampled_seconds: number;
  utilization_seconds: number;
  idle_seconds: number;
}

export function usageFromRow(r: UsageRow): GpuUsageGroup {
  return { queue: r.queue, owner: r.owner, gpuSeconds: r.gpu_seconds, sampledSeconds: r.sampled_seconds, utilizationSeconds: r.utilization_seconds, idleSeconds: r.idle_seconds };
}

/** Jobs that finished in the range by state, with their attempts; jobs queued or live now by state. */
export interface FinishedRow {
  state: string;
  n: number;
  attempts: number;
}
export interface NowRow {
  state: string;
  n: number;
}

/** The job counts of the report from its rows by state, and the jobs retried in the range. */
export function jobFigures(finishedRows: FinishedRow[], nowRows: NowRow[], retried: number): Pick<ReportFigures, 'jobs' | 'finishedAttempts'> {
  const finished = new Map(finishedRows.map((r) => [r.state, r]));
  const now = new Map(nowRows.map((r) => [r.state, r.n]));
  return {
    jobs: {
      succeeded: finished.get('succeeded')?.n ?? 0,
      failed: finished.get('failed')?.n ?? 0,
      cancelled: finished.get('cancelled')?.n ?? 0,
      retried,
      queuedNow: now.get('queued') ?? 0,
      runningNow: (now.get('assigned') ?? 0) + (now.get('running') ?? 0),
    },
    finishedAttempts: (finished.get('succeeded')?.attempts ?? 0) + (finished.get('failed')?.attempts ?? 0),
  };
}
