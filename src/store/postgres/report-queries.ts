import { percentileSampleStep, percentileSeek, type ReportFigures } from '../../core/slo-report.js';
import { REPORT_MAX_GPU_GROUPS, REPORT_PERCENTILE_SAMPLE, type ReportQuery } from '../report-store.js';
import type { Sql } from './postgres-pool.js';
import { jobFigures, usageFromRow, type FinishedRow, type NowRow, type UsageRow } from '../report-rows.js';

/**
 * The SLO report's figures (store/report-store.ts; what each counts: core/slo-report.ts), in the
 * SQLite store's shapes (see sqlite/report-queries.ts): each statement for every queue or for one,
 * each a range on the column migration 0011 indexes. Parameters, unless said otherwise: $1 since,
 * $2 until, $3 queue in the one-queue shape. The percentiles' statements take $1 since, $2 until,
 * $3 the sample step (a row counts when its id is a multiple of it; 1: every row), $4 queue, then
 * the seek's offset. Runs inside one REPEATABLE READ snapshot (postgres-store.ts).
 */

type Shapes = { all: string; queue: string };
/** Both shapes of a statement: `build` gets the one-queue predicate on `column` ('' for every queue). */
const shapes = (column: string, build: (queueFilter: string) => string): Shapes => ({ all: build(''), queue: build(` AND ${column} = $3`) });

/** Jobs that finished in the range, by state, with the attempts they made. */
const FINISHED_BY_STATE = shapes(
  'queue',
  (q) => `SELECT state, count(*) AS n, coalesce(sum(attempts), 0)::bigint AS attempts FROM jobs
  WHERE finished_at >= $1 AND finished_at < $2${q} GROUP BY state`,
);
/** Jobs queued or live now, whatever the range. Parameters: none, or $1 queue. */
const NOW_BY_STATE: Shapes = {
  all: `SELECT state, count(*) AS n FROM jobs WHERE state IN ('queued', 'assigned', 'running') GROUP BY state`,
  queue: `SELECT state, count(*) AS n FROM jobs WHERE queue = $1 AND state IN ('queued', 'assigned', 'running') GROUP BY state`,
};
/** Both shapes of a percentile's statement: the sample step is $3, the queue $4, the offset after them. */
const sampledShapes = (column: string, build: (queueFilter: string, offset: string) => string): Shapes => ({ all: build('', '$4'), queue: build(` AND ${column} = $4`, '$5') });
/** Queue wait: jobs whose first start is in the range (of the sample). */
const jobsStartedIn = (q: string) => `FROM jobs WHERE started_at >= $1 AND started_at < $2 AND id % $3 = 0${q}`;
const WAIT_COUNT = sampledShapes('queue', (q) => `SELECT count(*) AS n ${jobsStartedIn(q)}`);
const waitSeek = (desc: boolean) => sampledShapes('queue', (q, offset) => `SELECT started_at - created_at AS ms ${jobsStartedIn(q)} ORDER BY ms${desc ? ' DESC' : ''} LIMIT 1 OFFSET ${offset}`);
/** Run time: attempts that started and ended in the range (of the sample). */
const attemptsIn = (q: string) => `FROM attempts a${q ? ' JOIN jobs j ON j.id = a.job_id' : ''} WHERE a.ended_at >= $1 AND a.ended_at < $2 AND a.started_at IS NOT NULL AND a.id % $3 = 0${q}`;
const RUN_COUNT = sampledShapes('j.queue', (q) => `SELECT count(*) AS n ${attemptsIn(q)}`);
const runSeek = (desc: boolean) => sampledShapes('j.queue', (q, offset) => `SELECT a.ended_at - a.started_at AS ms ${attemptsIn(q)} ORDER BY ms${desc ? ' DESC' : ''} LIMIT 1 OFFSET ${offset}`);
/** Retried: jobs with a retry attempt (number > 1, the partial index's predicate) placed in the range. */
const RETRIED = shapes(
  'j.queue',
  (q) => `SELECT count(DISTINCT a.job_id) AS n FROM attempts a${q ? ' JOIN jobs j ON j.id = a.job_id' : ''}
  WHERE a.number > 1 AND a.assigned_at >= $1 AND a.assigned_at < $2${q}`,
);
/** DLQ inflow: jobs that became `failed` (every failure enters the DLQ) in the range. */
const DLQ_INFLOW = shapes(
  'j.queue',
  (q) => `SELECT count(DISTINCT e.job_id) AS n FROM job_events e${q ? ' JOIN jobs j ON j.id = e.job_id' : ''}
  WHERE e.to_state = 'failed' AND e.at >= $1 AND e.at < $2${q}`,
);
/** GPU capacity: the devices of the registered nodes (no parameters). */
const GPU_CAPACITY = `SELECT count(*) AS gpus, coalesce(bool_or(simulated), false) AS simulated FROM devices`;
/** GPU accounting (migration 0010) of the attempts that ended in the range, by queue and owner, largest first. */
const GPU_USAGE = shapes(
  'j.queue',
  (q) => `SELECT j.queue AS queue, j.owner AS owner, sum(u.gpu_seconds) AS gpu_seconds,
    sum(CASE WHEN u.mean_utilization_pct IS NULL THEN 0 ELSE u.gpu_seconds END) AS sampled_seconds,
    coalesce(sum(u.gpu_seconds * u.mean_utilization_pct), 0) AS utilization_seconds, coalesce(sum(u.idle_seconds), 0) AS idle_seconds
  FROM attempts a JOIN attempt_gpu_usage u ON u.attempt_id = a.id JOIN jobs j ON j.id = a.job_id
  WHERE a.ended_at >= $1 AND a.ended_at < $2${q}
  GROUP BY j.queue, j.owner ORDER BY gpu_seconds DESC, j.queue, j.owner LIMIT ${REPORT_MAX_GPU_GROUPS}`,
);


export async function jobReport(sql: Sql, query: ReportQuery): Promise<ReportFigures> {
  const one = query.queue !== undefined;
  const queue = one ? [query.queue] : [];
  const params: unknown[] = [query.since, query.until, ...queue];
  const text = (s: Shapes) => (one ? s.queue : s.all);
  const count = async (s: Shapes, p: unknown[] = params) => (await sql.query<{ n: number }>(text(s), p))[0]?.n ?? 0;
  const limit = query.percentileSample ?? REPORT_PERCENTILE_SAMPLE;
  /** Every value's count, then the percentiles of all of them, or of a sample when there are too many to sort. */
  const percentiles = async <P extends number>(ps: readonly P[], counter: Shapes, seek: (desc: boolean) => Shapes) => {
    const all = await count(counter, [query.since, query.until, 1, ...queue]);
    const step = percentileSampleStep(all, limit);
    const sampled = step === 1 ? all : await count(counter, [query.since, query.until, step, ...queue]);
    const out: Record<string, number | null> = {};
    for (const p of ps) {
      const at = percentileSeek(sampled, p);
      out[`p${p}`] = at === null ? null : ((await sql.query<{ ms: number }>(text(seek(at.descending)), [query.since, query.until, step, ...queue, at.offset]))[0]?.ms ?? null);
    }
    return { count: all, sampled, ...(out as Record<`p${P}`, number | null>) };
  };

  const finished = await sql.query<FinishedRow>(text(FINISHED_BY_STATE), params);
  const now = await sql.query<NowRow>(text(NOW_BY_STATE), one ? [query.queue] : []);
  const [capacity] = await sql.query<{ gpus: number; simulated: boolean }>(GPU_CAPACITY);
  const usage = (await sql.query<UsageRow>(text(GPU_USAGE), params)).map(usageFromRow);
  return {
    ...jobFigures(finished, now, await count(RETRIED)),
    queueWaitMs: await percentiles([50, 95, 99] as const, WAIT_COUNT, waitSeek),
    runMs: await percentiles([50, 95] as const, RUN_COUNT, runSeek),
    dlqInflow: await count(DLQ_INFLOW),
    gpu: { capacity: capacity?.gpus ?? 0, simulated: capacity?.simulated ?? false, usage },
  };
}
