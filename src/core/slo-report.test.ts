import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isJobSort, JOB_SORTS, jobOrder } from './job-sort.js';
import {
  buildSloReport,
  DEFAULT_SLO_THRESHOLDS,
  evaluate,
  parseReportTime,
  percentileRank,
  percentileSampleStep,
  percentileSeek,
  resolveReportRange,
  type ReportFigures,
} from './slo-report.js';

const NOW = Date.UTC(2025, 0, 31, 12, 0, 0);

describe('percentiles', () => {
  it('is nearest-rank: the smallest value with at least p % of the values at or below it', () => {
    expect(percentileRank(1, 50)).toBe(0);
    expect(percentileRank(1, 99)).toBe(0);
    expect(percentileRank(100, 50)).toBe(49);
    expect(percentileRank(100, 95)).toBe(94);
    expect(percentileRank(100, 99)).toBe(98);
    expect(percentileRank(100, 100)).toBe(99);
    expect(percentileRank(5, 50)).toBe(2);
    expect(percentileRank(5, 95)).toBe(4);
    expect(() => percentileRank(0, 50)).toThrow(RangeError);
    expect(() => percentileRank(3, 0)).toThrow(RangeError);
  });

  it('seeks from the nearer end, and reads the same value a full sort would', () => {
    expect(percentileSeek(0, 50)).toBeNull();
    expect(percentileSeek(100, 99)).toEqual({ offset: 1, descending: true });
    expect(percentileSeek(100, 50)).toEqual({ offset: 49, descending: false });
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 300 }), fc.integer({ min: 1, max: 100 }), (values, p) => {
        const asc = [...values].sort((a, b) => a - b);
        const seek = percentileSeek(values.length, p)!;
        const read = seek.descending ? [...asc].reverse()[seek.offset] : asc[seek.offset];
        const atLeast = asc.filter((v) => v <= read!).length;
        // Nearest rank: at least p % are at or below it, and fewer than p % are strictly below it.
        return read === asc[percentileRank(values.length, p)] && seek.offset <= Math.floor(values.length / 2) && atLeast >= (p / 100) * values.length && asc.filter((v) => v < read!).length < (p / 100) * values.length;
      }),
    );
  });
});

describe('percentile sample', () => {
  it('reads every value up to the bound, and about the bound\'s worth above it', () => {
    expect(percentileSampleStep(0, 100)).toBe(1);
    expect(percentileSampleStep(100, 100)).toBe(1);
    expect(percentileSampleStep(101, 100)).toBe(2);
    expect(percentileSampleStep(1_000_000, 20_000)).toBe(50);
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 1, max: 100_000 }), (n, limit) => Math.floor(n / percentileSampleStep(n, limit)) <= limit));
    expect(() => percentileSampleStep(5, 0)).toThrow(RangeError);
  });
});

describe('report time range', () => {
  it('reads durations back from now and ISO 8601 dates and times with a zone', () => {
    expect(parseReportTime('24h', NOW, 'since')).toBe(NOW - 86_400_000);
    expect(parseReportTime('30m', NOW, 'since')).toBe(NOW - 1_800_000);
    expect(parseReportTime('7d', NOW, 'since')).toBe(NOW - 7 * 86_400_000);
    expect(parseReportTime('2w', NOW, 'since')).toBe(NOW - 14 * 86_400_000);
    expect(parseReportTime('90s', NOW, 'since')).toBe(NOW - 90_000);
    expect(parseReportTime('1.5h', NOW, 'since')).toBe(NOW - 5_400_000);
    expect(parseReportTime('2025-01-30', NOW, 'since')).toBe(Date.UTC(2025, 0, 30));
    expect(parseReportTime('2025-01-30T09:30:00Z', NOW, 'since')).toBe(Date.UTC(2025, 0, 30, 9, 30));
    expect(parseReportTime('2025-01-30T09:30:00.250Z', NOW, 'since')).toBe(Date.UTC(2025, 0, 30, 9, 30, 0, 250));
    expect(parseReportTime('2025-01-30T11:30+02:00', NOW, 'until')).toBe(Date.UTC(2025, 0, 30, 9, 30));
  });

  it('refuses anything else, naming the parameter and the rule', () => {
    for (const bad of ['yesterday', '24', 'h', '-5h', '5 h', '24H', '2025-13-45', '2025-01-30 09:30Z', '']) {
      expect(() => parseReportTime(bad, NOW, 'since'), bad).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', issues: [expect.objectContaining({ path: 'since', message: expect.stringContaining('24h') })] }));
    }
    expect(() => parseReportTime('2025-01-30T09:30:00', NOW, 'until')).toThrow(expect.objectContaining({ issues: [{ path: 'until', message: expect.stringContaining('time zone') }] }));
    expect(() => parseReportTime('1969-12-31', NOW, 'since')).toThrow(expect.objectContaining({ issues: [{ path: 'since', message: expect.stringContaining('1970') }] }));
  });

  it('defaults to the last 24 hours, cuts a future until back to now, and wants since before until', () => {
    expect(resolveReportRange({}, NOW)).toEqual({ since: NOW - 86_400_000, until: NOW });
    expect(resolveReportRange({ since: '1h', until: '30m' }, NOW)).toEqual({ since: NOW - 3_600_000, until: NOW - 1_800_000 });
    expect(resolveReportRange({ since: '2025-01-31', until: '2030-01-01' }, NOW)).toEqual({ since: Date.UTC(2025, 0, 31), until: NOW });
    expect(() => resolveReportRange({ since: '30m', until: '1h' }, NOW)).toThrow(expect.objectContaining({ issues: [{ path: 'since', message: expect.stringContaining('before until') }] }));
    expect(() => resolveReportRange({ since: '0s' }, NOW)).toThrow(expect.objectContaining({ issues: [{ path: 'since', message: expect.stringContaining('before until') }] }));
    expect(() => resolveReportRange({ since: '2h', until: 'soon' }, NOW)).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ path: 'until' })] }));
  });
});

const figures = (over: Partial<ReportFigures> = {}): ReportFigures => ({
  jobs: { succeeded: 49, failed: 1, cancelled: 3, retried: 2, queuedNow: 4, runningNow: 1 },
  finishedAttempts: 60,
  queueWaitMs: { count: 50, sampled: 50, p50: 1_500, p95: 240_000, p99: 600_000 },
  runMs: { count: 60, sampled: 60, p50: 30_000, p95: 90_000 },
  dlqInflow: 1,
  gpu: {
    capacity: 2,
    simulated: true,
    usage: [
      { queue: 'train', owner: 'alice', gpuSeconds: 3600, sampledSeconds: 3600, utilizationSeconds: 3600 * 80, idleSeconds: 600 },
      { queue: 'train', owner: null, gpuSeconds: 1800, sampledSeconds: 0, utilizationSeconds: 0, idleSeconds: 0 },
      { queue: 'eval', owner: 'alice', gpuSeconds: 1800, sampledSeconds: 1800, utilizationSeconds: 1800 * 50, idleSeconds: 1800 },
    ],
  },
  ...over,
});

describe('buildSloReport', () => {
  const range = { since: NOW - 4 * 3_600_000, until: NOW };

  it('turns the figures into rates, seconds and hours, and judges each objective', () => {
    const r = buildSloReport(figures(), range, null, DEFAULT_SLO_THRESHOLDS);
    expect(r.successRate).toBe(98);
    expect(r.attemptsPerJob).toBe(1.2);
    expect(r.queueWaitSeconds).toEqual({ count: 50, sampled: 50, p50: 1.5, p95: 240, p99: 600 });
    expect(r.runSeconds).toEqual({ count: 60, sampled: 60, p50: 30, p95: 90 });
    expect(r.gpuHours).toBe(2);
    expect(r.gpuCapacityHours).toBe(8);
    // Weighted by the sampled GPU-seconds: (3600 × 80 + 1800 × 50) / 5400; over capacity × range: / (2 × 4 h).
    expect(r.gpuUtilization.meanOverRunning).toBe((3600 * 80 + 1800 * 50) / 5400);
    expect(r.gpuUtilization.meanOverAll).toBe((3600 * 80 + 1800 * 50) / (2 * 4 * 3600));
    expect(r.gpuHoursByQueue).toEqual({ train: 1.5, eval: 0.5 });
    expect(r.gpuHoursByOwner).toEqual({ alice: 1.5, local: 0.5 });
    expect(r.idleGpuHours).toBe(2400 / 3600);
    expect(r.gpus).toEqual({ capacity: 2, simulated: true });
    const status = Object.fromEntries(r.lines.map((l) => [l.key, l.status]));
    // 98 % ≥ 98 %; 240 s ≤ 300 s; 13.1 % is under 70 %.
    expect(status).toMatchObject({ success_rate: 'ok', queue_wait_p95: 'ok', gpu_utilization_all: 'breached', queue_wait_p50: 'n/a', jobs_queued_now: 'n/a' });
    expect(r.lines.find((l) => l.key === 'gpu_utilization_all')!.threshold).toEqual({ min: 70, max: 90, text: '70–90 %' });
    expect(r.lines.map((l) => l.key)).toEqual([...new Set(r.lines.map((l) => l.key))]);
  });

  it('breaches at the other side of each objective, with thresholds of its own', () => {
    const strict = { successPct: 99, queueWaitP95Seconds: 60, gpuUtilizationMinPct: 1, gpuUtilizationMaxPct: 10 };
    const r = buildSloReport(figures(), range, 'train', strict);
    expect(r.queue).toBe('train');
    expect(r.thresholds).toEqual(strict);
    const status = Object.fromEntries(r.lines.map((l) => [l.key, l.status]));
    expect(status).toMatchObject({ success_rate: 'breached', queue_wait_p95: 'breached', gpu_utilization_all: 'breached' });
    expect(buildSloReport(figures(), { since: range.since, until: range.since + 3_600_000 * 2 }, null, { ...strict, gpuUtilizationMaxPct: 30 }).lines.find((l) => l.key === 'gpu_utilization_all')!.status).toBe('ok');
  });

  it('says n/a where nothing was measured', () => {
    const none = figures({
      jobs: { succeeded: 0, failed: 0, cancelled: 2, retried: 0, queuedNow: 0, runningNow: 0 },
      finishedAttempts: 0,
      queueWaitMs: { count: 0, sampled: 0, p50: null, p95: null, p99: null },
      runMs: { count: 0, sampled: 0, p50: null, p95: null },
      dlqInflow: 0,
      gpu: { capacity: 0, simulated: false, usage: [] },
    });
    const r = buildSloReport(none, range, null, DEFAULT_SLO_THRESHOLDS);
    expect(r.successRate).toBeNull();
    expect(r.attemptsPerJob).toBeNull();
    expect(r.gpuUtilization).toEqual({ meanOverRunning: null, meanOverAll: null });
    expect(r.lines.filter((l) => l.threshold !== null).map((l) => [l.key, l.status])).toEqual([
      ['success_rate', 'n/a'],
      ['queue_wait_p95', 'n/a'],
      ['gpu_utilization_all', 'n/a'],
    ]);
    expect(r.gpuHoursByQueue).toEqual({});
  });

  it('evaluates bounds inclusively, open where null', () => {
    expect(evaluate(5, { min: 5, max: null, text: '' })).toBe('ok');
    expect(evaluate(4.999, { min: 5, max: null, text: '' })).toBe('breached');
    expect(evaluate(10, { min: null, max: 10, text: '' })).toBe('ok');
    expect(evaluate(10.001, { min: null, max: 10, text: '' })).toBe('breached');
    expect(evaluate(null, { min: 1, max: 2, text: '' })).toBe('n/a');
    expect(evaluate(1, null)).toBe('n/a');
  });
});

describe('job sorts', () => {
  it('has a descending and an ascending order of each key', () => {
    expect(JOB_SORTS).toEqual(['-id', 'id', '-priority', 'priority', '-created', 'created', '-updated', 'updated']);
    expect(jobOrder('-priority')).toEqual({ key: 'priority', descending: true });
    expect(jobOrder('created')).toEqual({ key: 'created', descending: false });
    expect(isJobSort('-name')).toBe(false);
    expect(isJobSort('updated')).toBe(true);
  });
});
