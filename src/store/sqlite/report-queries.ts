import type { Database, Statement } from 'better-sqlite3';
import { percentileSampleStep, percentileSeek, type ReportFigures } from '../../core/slo-report.js';
import { jobFigures, usageFromRow, type FinishedRow, type NowRow, type UsageRow } from '../report-rows.js';
import { REPORT_MAX_GPU_GROUPS, REPORT_PERCENTILE_SAMPLE, type ReportQuery } from '../report-store.js';

/**
 * The SLO report's figures (store/report-store.ts; what each counts: core/slo-report.ts).
 * Every statement comes in two shapes, for every queue and for one, so each can use the
 * index that fits it (migration 0011): a range on finished_at, started_at or ended_at, or
 * the queue's rows by state. Parameters, unless said otherwise: since, until, then queue in
 * the one-queue shape. The percentiles' statements take since, until, the sample step (a row
 * counts when its id is a multiple of it; 1: every row), queue, then the seek's offset. Runs
 * inside one read transaction (sqlite-store.ts).
 */

type Shapes = { all: string; queue: string };
/** Both shapes of a statement: `build` gets the one-queue predicate on `column` ('' for every queue). */
const shapes = (column: string, build: (queueFilter: string) => string): Shapes => ({ all: build(''), queue: build(` AND ${column} = ?`) });

/** Jobs that finished in the range, by state, with the attempts they made. */
const FINISHED_BY_STATE = shapes(
  'queue',
  (q) => `SELECT state, count(*) AS n, coalesce(sum(attempts), 0) AS attempts FROM jobs
  WHERE finished_at >= ? AND finished_at < ?${q} GROUP BY state`,
);
/** Jobs queued or live now, whatever the range. Parameters: none, or queue. */
const NOW_BY_STATE: Shapes = {
  all: `SELECT state, count(*) AS n FROM jobs WHERE state IN ('queued', 'assigned', 'running') GROUP BY state`,
  queue: `SELECT state, count(*) AS n FROM jobs WHERE queue = ? AND state IN ('queued', 'assigned', 'running') GROUP BY state`,
};
/** Queue wait: jobs whose first start is in the range (of the sample). */
const jobsStartedIn = (q: string) => `FROM jobs WHERE started_at >= ? AND started_at < ? AND id % ? = 0${q}`;
const WAIT_COUNT = shapes('queue', (q) => `SELECT count(*) AS n ${jobsStartedIn(q)}`);
const waitSeek = (desc: boolean) => shapes('queue', (q) => `SELECT started_at - created_at AS ms ${jobsStartedIn(q)} ORDER BY ms${desc ? ' DESC' : ''} LIMIT 1 OFFSET ?`);
/** Run time: attempts that started and ended in the range (of the sample). */
const attemptsIn = (q: string) => `FROM attempts a${q ? ' JOIN jobs j ON j.id = a.job_id' : ''} WHERE a.ended_at >= ? AND a.ended_at < ? AND a.started_at IS NOT NULL AND a.id % ? = 0${q}`;
const RUN_COUNT = shapes('j.queue', (q) => `SELECT count(*) AS n ${attemptsIn(q)}`);
const runSeek = (desc: boolean) => shapes('j.queue', (q) => `SELECT a.ended_at - a.started_at AS ms ${attemptsIn(q)} ORDER BY ms${desc ? ' DESC' : ''} LIMIT 1 OFFSET ?`);
/** Retried: jobs with a retry attempt (number > 1, the partial index's predicate) placed in the range. */
const RETRIED = shapes(
  'j.queue',
  (q) => `SELECT count(DISTINCT a.job_id) AS n FROM attempts a${q ? ' JOIN jobs j ON j.id = a.job_id' : ''}
  WHERE a.number > 1 AND a.assigned_at >= ? AND a.assigned_at < ?${q}`,
);
/** DLQ inflow: jobs that became `failed` (every failure enters the DLQ) in the range. */
const DLQ_INFLOW = shapes(
  'j.queue',
  (q) => `SELECT count(DISTINCT e.job_id) AS n FROM job_events e${q ? ' JOIN jobs j ON j.id = e.job_id' : ''}
  WHERE e.to_state = 'failed' AND e.at >= ? AND e.at < ?${q}`,
);
/** GPU capacity: the devices of the registered nodes (no parameters). */
const GPU_CAPACITY = `SELECT count(*) AS gpus, coalesce(max(simulated), 0) AS simulated FROM devices`;
/** GPU accounting (migration 0010) of the attempts that ended in the range, by queue and owner, largest first. */
const GPU_USAGE = shapes(
  'j.queue',
  (q) => `SELECT j.queue AS queue, j.owner AS owner, sum(u.gpu_seconds) AS gpu_seconds,
    sum(CASE WHEN u.mean_utilization_pct IS NULL THEN 0 ELSE u.gpu_seconds END) AS sampled_seconds,
    coalesce(sum(u.gpu_seconds * u.mean_utilization_pct), 0) AS utilization_seconds, coalesce(sum(u.idle_seconds), 0) AS idle_seconds
  FROM attempts a JOIN attempt_gpu_usage u ON u.attempt_id = a.id JOIN jobs j ON j.id = a.job_id
  WHERE a.ended_at >= ? AND a.ended_at < ?${q}
  GROUP BY j.queue, j.owner ORDER BY gpu_seconds DESC, j.queue, j.owner LIMIT ${REPORT_MAX_GPU_GROUPS}`,
);


export type ReportQueries = ReturnType<typeof prepareReportQueries>;

type Prepared<R> = { all: Statement<unknown[], R>; queue: Statement<unknown[], R> };

export function prepareReportQueries(db: Database) {
  const prep = <R>(s: Shapes) => ({ all: db.prepare<unknown[], R>(s.all), queue: db.prepare<unknown[], R>(s.queue) });
  const finishedByState = prep<FinishedRow>(FINISHED_BY_STATE);
  const nowByState = prep<NowRow>(NOW_BY_STATE);
  const waitCount = prep<{ n: number }>(WAIT_COUNT);
  const waitAsc = prep<{ ms: number }>(waitSeek(false));
  const waitDesc = prep<{ ms: number }>(waitSeek(true));
  const runCount = prep<{ n: number }>(RUN_COUNT);
  const runAsc = prep<{ ms: number }>(runSeek(false));
  const runDesc = prep<{ ms: number }>(runSeek(true));
  const retried = prep<{ n: number }>(RETRIED);
  const dlqInflow = prep<{ n: number }>(DLQ_INFLOW);
  const gpuCapacity = db.prepare<[], { gpus: number; simulated: number }>(GPU_CAPACITY);
  // Prepared on first use: the GPU accounting table arrives with its own migration.
  let gpuUsage: { all: Statement<unknown[], UsageRow>; queue: Statement<unknown[], UsageRow> } | null = null;

  function jobReport(query: ReportQuery): ReportFigures {
    const queue = query.queue === undefined ? [] : [query.queue];
    const params: unknown[] = [query.since, query.until, ...queue];
    const pick = <R>(s: { all: Statement<unknown[], R>; queue: Statement<unknown[], R> }) => (query.queue === undefined ? s.all : s.queue);
    const count = (s: Prepared<{ n: number }>, p: unknown[] = params) => pick(s).get(...p)?.n ?? 0;
    const limit = query.percentileSample ?? REPORT_PERCENTILE_SAMPLE;
    /** Every value's count, then the percentiles of all of them, or of a sample when there are too many to sort. */
    const percentiles = <P extends number>(ps: readonly P[], counter: Prepared<{ n: number }>, asc: Prepared<{ ms: number }>, desc: Prepared<{ ms: number }>) => {
      const all = count(counter, [query.since, query.until, 1, ...queue]);
      const step = percentileSampleStep(all, limit);
      const sampled = step === 1 ? all : count(counter, [query.since, query.until, step, ...queue]);
      const values = ps.map((p) => {
        const seek = percentileSeek(sampled, p);
        return [`p${p}`, seek === null ? null : (pick(seek.descending ? desc : asc).get(query.since, query.until, step, ...queue, seek.offset)?.ms ?? null)];
      });
      return { count: all, sampled, ...(Object.fromEntries(values) as Record<`p${P}`, number | null>) };
    };

    const finished = pick(finishedByState).all(...params);
    const now = pick(nowByState).all(...(query.queue === undefined ? [] : [query.queue]));
    const capacity = gpuCapacity.get()!;
    gpuUsage ??= prep<UsageRow>(GPU_USAGE);
    const usage = pick(gpuUsage).all(...params).map(usageFromRow);
    return {
      ...jobFigures(finished, now, count(retried)),
      queueWaitMs: percentiles([50, 95, 99] as const, waitCount, waitAsc, waitDesc),
      runMs: percentiles([50, 95] as const, runCount, runAsc, runDesc),
      dlqInflow: count(dlqInflow),
      gpu: { capacity: capacity.gpus, simulated: capacity.simulated === 1, usage },
    };
  }

  return { jobReport };
}
