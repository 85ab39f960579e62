import type { ReportFigures, ReportRange } from '../core/slo-report.js';

/**
 * What the store measures for the SLO report (core/slo-report.ts says what each
 * figure counts). Part of the Store (`Store extends ReportStore`), its queries in
 * report-queries.ts of each store. Computed from the store, never from a
 * server's memory, so every replica of a cluster, and a server just restarted,
 * gives the same answer.
 *
 * Bounded work: every figure is an aggregate computed by the database over one
 * range of an index (migration 0011), and no query returns a row per job or
 * attempt. Each percentile is one `ORDER BY … LIMIT 1 OFFSET k`
 * (core/slo-report.ts percentileSeek) from the nearer end; over more than
 * REPORT_PERCENTILE_SAMPLE values, of the rows whose id is a multiple of a step
 * (percentileSampleStep), so the database sorts at most about that many values
 * however long the range (the figures say how many they were taken from). GPU
 * usage comes back as one row per (queue, owner) pair, at most
 * REPORT_MAX_GPU_GROUPS of them (the largest by GPU-seconds).
 *
 * Measured with 100,000 jobs in the range: about 0.2 s on SQLite (a read on the
 * server's event loop, so the sample bound matters there), 0.3 to 0.7 s on
 * PostgreSQL (sequential scans once the range holds most of the table).
 */
export interface ReportStore {
  /** The report's figures over [range.since, range.until), of one queue when `queue` is given; one read snapshot. */
  jobReport(query: ReportQuery): Promise<ReportFigures>;
}

export interface ReportQuery extends ReportRange {
  queue?: string;
  /** Most values a percentile is read from before sampling. @default REPORT_PERCENTILE_SAMPLE */
  percentileSample?: number;
}

/** Percentiles are exact up to this many values, and read from a systematic sample of about this many above it. */
export const REPORT_PERCENTILE_SAMPLE = 20_000;

/** Most (queue, owner) groups of GPU usage a report returns. */
export const REPORT_MAX_GPU_GROUPS = 1000;
