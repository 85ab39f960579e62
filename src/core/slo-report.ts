import { ValidationError } from './errors.js';

/**
 * The SLO report (GET /v1/report, `gpuq report`): what the store measured over
 * a time range [since, until), turned into figures and lines, each line judged
 * against its objective. Pure: the store measures (store/report-store.ts), the
 * route reads the clock; here are the rules.
 *
 * What each figure counts (the store's queries follow these definitions):
 *   - finished jobs: jobs whose finished_at is in the range, by their state then;
 *     success rate = succeeded / (succeeded + failed). Cancelled jobs are counted
 *     but left out of the rate: a cancel is someone's decision, not a failure.
 *   - retried: jobs with a retry attempt (number ≥ 2) placed in the range.
 *   - queued now, running now: at the time of the report, whatever the range.
 *   - queue wait: submit → first start, of the jobs whose first start is in the range.
 *   - run time: start → end of every attempt that started and whose end is in the range,
 *     whatever its outcome.
 *   - attempts per job: attempts made by the jobs that finished succeeded or failed in the range.
 *   - DLQ inflow: jobs that entered the DLQ (became `failed`) in the range.
 *   - GPU figures: the GPU accounting of attempts that ended in the range (an attempt is
 *     counted whole in the range it ended in). Utilization over running GPU time is weighted
 *     by GPU-seconds; over all GPU time it is divided by capacity × the range's length, the
 *     capacity being the GPUs of the nodes registered now.
 * Percentiles are nearest-rank (`percentileRank`), so each is a value that was measured; over more
 * values than the store's sample bound, of a systematic sample of them (`percentileSampleStep`).
 */

export interface SloThresholds {
  /** Objective: success rate at least this (percent). @default 98 */
  successPct: number;
  /** Objective: queue wait p95 at most this. @default 300 */
  queueWaitP95Seconds: number;
  /** Objective: GPU utilization over all GPU time within [min, max] percent. @default 70 and 90 */
  gpuUtilizationMinPct: number;
  gpuUtilizationMaxPct: number;
}

export const DEFAULT_SLO_THRESHOLDS: Readonly<SloThresholds> = Object.freeze({
  successPct: 98,
  queueWaitP95Seconds: 300,
  gpuUtilizationMinPct: 70,
  gpuUtilizationMaxPct: 90,
});

export interface ReportRange {
  /** ms since the epoch, inclusive. */
  since: number;
  /** ms since the epoch, exclusive. */
  until: number;
}

/** One (queue, owner) group of GPU accounting over the range. */
export interface GpuUsageGroup {
  queue: string;
  /** The owning token's name; null for jobs submitted with auth off. */
  owner: string | null;
  gpuSeconds: number;
  /** GPU-seconds of the devices whose mean utilization was sampled. */
  sampledSeconds: number;
  /** Σ GPU-seconds × mean utilization (percent): utilization-weighted GPU time. */
  utilizationSeconds: number;
  idleSeconds: number;
}

/** What the store measures over a range (ReportStore.jobReport); times in ms. */
export interface ReportFigures {
  jobs: { succeeded: number; failed: number; cancelled: number; retried: number; queuedNow: number; runningNow: number };
  /** Attempts made by the jobs that finished succeeded or failed in the range. */
  finishedAttempts: number;
  /** `count` values in the range; the percentiles are of `sampled` of them (all of them unless more than the sample bound). */
  queueWaitMs: { count: number; sampled: number; p50: number | null; p95: number | null; p99: number | null };
  runMs: { count: number; sampled: number; p50: number | null; p95: number | null };
  dlqInflow: number;
  gpu: { capacity: number; simulated: boolean; usage: GpuUsageGroup[] };
}

/**
 * Which values a store reads percentiles from: every one while there are at most `limit`, else those whose
 * row id is a multiple of the returned step (a systematic sample of about `limit` values), so a report over
 * a huge range sorts a bounded number of values. The step is 1 for an exact figure.
 */
export function percentileSampleStep(count: number, limit: number): number {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('the sample bound is a positive integer');
  return count <= limit ? 1 : Math.ceil(count / limit);
}

/**
 * The nearest-rank percentile's position: the 0-based index, in ascending order,
 * of the smallest value with at least p % of the n values at or below it.
 */
export function percentileRank(n: number, p: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('percentileRank needs at least one value');
  if (!(p > 0 && p <= 100)) throw new RangeError('a percentile is in (0, 100]');
  return Math.max(0, Math.ceil((p / 100) * n) - 1);
}

/**
 * How a store reads the p-th percentile of n values with ORDER BY … LIMIT 1 OFFSET k:
 * from whichever end is nearer, so the database skips at most half of the rows. Null for no values.
 */
export function percentileSeek(n: number, p: number): { offset: number; descending: boolean } | null {
  if (n === 0) return null;
  const rank = percentileRank(n, p);
  const fromTop = n - 1 - rank;
  return fromTop < rank ? { offset: fromTop, descending: true } : { offset: rank, descending: false };
}

// ── the time range ───────────────────────────────────────────────────────────

const DURATION = /^(\d{1,7}(?:\.\d{1,3})?)(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
/** A date, or a date and time with seconds optional and a zone (Z or ±hh:mm) required: a time without one is ambiguous. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2}))?$/;
const TIME_RULE = 'must be a duration before now such as 30m, 24h or 7d (s, m, h, d, w), or an ISO 8601 time such as 2025-01-31 or 2025-01-31T09:00:00Z';

/** A `since` or `until` parameter: a duration back from `now`, or an ISO 8601 date or time. A ValidationError names `param`. */
export function parseReportTime(value: string, now: number, param: string): number {
  const v = value.trim();
  const d = DURATION.exec(v);
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]!]!;
  if (ISO_TIME.test(v)) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) {
      if (t < 0) throw new ValidationError([{ path: param, message: 'must be after 1970-01-01' }]);
      return t;
    }
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(v) && !/(Z|[+-]\d{2}:?\d{2})$/.test(v)) {
    throw new ValidationError([{ path: param, message: `"${value}" has no time zone: add Z (UTC) or an offset such as +02:00` }]);
  }
  throw new ValidationError([{ path: param, message: `"${value}" ${TIME_RULE}` }]);
}

/**
 * The report's range from its parameters: `since` defaults to 24h, `until` to now. An `until` in the
 * future is cut back to now (nothing has been measured there). `since` must come before `until`.
 */
export function resolveReportRange(params: { since?: string; until?: string }, now: number): ReportRange {
  const until = Math.min(now, params.until === undefined ? now : parseReportTime(params.until, now, 'until'));
  const since = parseReportTime(params.since ?? '24h', now, 'since');
  if (since >= until) {
    throw new ValidationError([{ path: 'since', message: `must be before until (since is ${new Date(since).toISOString()}, until ${new Date(until).toISOString()})` }]);
  }
  return { since, until };
}

// ── the report ────────────────────────────────────────────────────────────────

export type SloUnit = 'percent' | 'seconds' | 'count' | 'hours' | 'attempts';
export type SloStatus = 'ok' | 'breached' | 'n/a';

/** An objective: ok when min ≤ value ≤ max (a null bound is open). */
export interface SloThreshold {
  min: number | null;
  max: number | null;
  /** How it reads, e.g. "≥ 98 %". */
  text: string;
}

export interface SloLine {
  key: string;
  label: string;
  /** Null when nothing was measured (no finished job, no GPU time). */
  value: number | null;
  unit: SloUnit;
  threshold: SloThreshold | null;
  /** 'n/a' for a line without an objective or without a value. */
  status: SloStatus;
}

export interface SloReport {
  since: number;
  until: number;
  queue: string | null;
  thresholds: SloThresholds;
  lines: SloLine[];
  /** Percent, null when no job finished succeeded or failed. */
  successRate: number | null;
  /** `count` values in the range; the percentiles are of `sampled` of them (store/report-store.ts bounds the sample). */
  queueWaitSeconds: { count: number; sampled: number; p50: number | null; p95: number | null; p99: number | null };
  runSeconds: { count: number; sampled: number; p50: number | null; p95: number | null };
  attemptsPerJob: number | null;
  dlqInflow: number;
  /** Percent. */
  gpuUtilization: { meanOverRunning: number | null; meanOverAll: number | null };
  gpuHours: number;
  /** Capacity × the range's length. */
  gpuCapacityHours: number;
  gpuHoursByQueue: Record<string, number>;
  /** By owner token name; `local` for jobs submitted with auth off. */
  gpuHoursByOwner: Record<string, number>;
  idleGpuHours: number;
  /** The GPUs of the registered nodes; `simulated` when any is a --fake-gpus device. */
  gpus: { capacity: number; simulated: boolean };
  jobs: { succeeded: number; failed: number; cancelled: number; retried: number; queuedNow: number; runningNow: number };
}

/** The owner key of jobs submitted with auth off (no token may be named so: core/access.ts TOKEN_NAME). */
export const NO_OWNER = 'local';

export function evaluate(value: number | null, threshold: SloThreshold | null): SloStatus {
  if (threshold === null || value === null) return 'n/a';
  const ok = (threshold.min === null || value >= threshold.min) && (threshold.max === null || value <= threshold.max);
  return ok ? 'ok' : 'breached';
}

const seconds = (ms: number | null): number | null => (ms === null ? null : ms / 1000);
const ratio = (num: number, den: number): number | null => (den > 0 ? num / den : null);

/** The report from the store's figures over `range`, judged against `thresholds`. */
export function buildSloReport(figures: ReportFigures, range: ReportRange, queue: string | null, thresholds: SloThresholds): SloReport {
  const { jobs, gpu } = figures;
  const successRate = ratio(jobs.succeeded * 100, jobs.succeeded + jobs.failed);
  const attemptsPerJob = ratio(figures.finishedAttempts, jobs.succeeded + jobs.failed);
  const { queueWaitMs: w, runMs: r } = figures;
  const queueWaitSeconds = { count: w.count, sampled: w.sampled, p50: seconds(w.p50), p95: seconds(w.p95), p99: seconds(w.p99) };
  const runSeconds = { count: r.count, sampled: r.sampled, p50: seconds(r.p50), p95: seconds(r.p95) };

  const sum = (f: (g: GpuUsageGroup) => number) => gpu.usage.reduce((s, g) => s + f(g), 0);
  const gpuSeconds = sum((g) => g.gpuSeconds);
  const utilizationSeconds = sum((g) => g.utilizationSeconds);
  const capacitySeconds = (gpu.capacity * (range.until - range.since)) / 1000;
  const gpuUtilization = { meanOverRunning: ratio(utilizationSeconds, sum((g) => g.sampledSeconds)), meanOverAll: ratio(utilizationSeconds, capacitySeconds) };
  const byQueue: Record<string, number> = {};
  const byOwner: Record<string, number> = {};
  for (const g of gpu.usage) {
    byQueue[g.queue] = (byQueue[g.queue] ?? 0) + g.gpuSeconds / 3600;
    const owner = g.owner ?? NO_OWNER;
    byOwner[owner] = (byOwner[owner] ?? 0) + g.gpuSeconds / 3600;
  }

  const t = thresholds;
  const line = (key: string, label: string, value: number | null, unit: SloUnit, threshold: SloThreshold | null = null): SloLine => ({ key, label, value, unit, threshold, status: evaluate(value, threshold) });
  const lines: SloLine[] = [
    line('success_rate', 'Job success rate (succeeded / succeeded + failed)', successRate, 'percent', { min: t.successPct, max: null, text: `≥ ${t.successPct} %` }),
    line('queue_wait_p50', 'Queue wait p50 (submit → first start)', queueWaitSeconds.p50, 'seconds'),
    line('queue_wait_p95', 'Queue wait p95', queueWaitSeconds.p95, 'seconds', { min: null, max: t.queueWaitP95Seconds, text: `≤ ${t.queueWaitP95Seconds} s` }),
    line('queue_wait_p99', 'Queue wait p99', queueWaitSeconds.p99, 'seconds'),
    line('run_time_p50', 'Attempt run time p50', runSeconds.p50, 'seconds'),
    line('run_time_p95', 'Attempt run time p95', runSeconds.p95, 'seconds'),
    line('attempts_per_job', 'Attempts per finished job', attemptsPerJob, 'attempts'),
    line('dlq_inflow', 'Jobs into the DLQ', figures.dlqInflow, 'count'),
    line('gpu_utilization_running', 'GPU utilization over running GPU time', gpuUtilization.meanOverRunning, 'percent'),
    line('gpu_utilization_all', 'GPU utilization over all GPU time (capacity × range)', gpuUtilization.meanOverAll, 'percent', {
      min: t.gpuUtilizationMinPct,
      max: t.gpuUtilizationMaxPct,
      text: `${t.gpuUtilizationMinPct}–${t.gpuUtilizationMaxPct} %`,
    }),
    line('gpu_hours', 'GPU-hours used', gpuSeconds / 3600, 'hours'),
    line('idle_gpu_hours', 'Idle GPU-hours (held below the idle threshold)', sum((g) => g.idleSeconds) / 3600, 'hours'),
    line('jobs_succeeded', 'Jobs succeeded', jobs.succeeded, 'count'),
    line('jobs_failed', 'Jobs failed', jobs.failed, 'count'),
    line('jobs_cancelled', 'Jobs cancelled', jobs.cancelled, 'count'),
    line('jobs_retried', 'Jobs retried', jobs.retried, 'count'),
    line('jobs_queued_now', 'Jobs queued now', jobs.queuedNow, 'count'),
    line('jobs_running_now', 'Jobs running now', jobs.runningNow, 'count'),
  ];

  return {
    since: range.since,
    until: range.until,
    queue,
    thresholds: { ...thresholds },
    lines,
    successRate,
    queueWaitSeconds,
    runSeconds,
    attemptsPerJob,
    dlqInflow: figures.dlqInflow,
    gpuUtilization,
    gpuHours: gpuSeconds / 3600,
    gpuCapacityHours: capacitySeconds / 3600,
    gpuHoursByQueue: byQueue,
    gpuHoursByOwner: byOwner,
    idleGpuHours: sum((g) => g.idleSeconds) / 3600,
    gpus: { capacity: gpu.capacity, simulated: gpu.simulated },
    jobs: { ...jobs },
  };
}
