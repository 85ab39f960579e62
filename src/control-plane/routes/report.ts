import type { FastifyInstance } from 'fastify';
import { buildSloReport, DEFAULT_SLO_THRESHOLDS, resolveReportRange } from '../../core/slo-report.js';
import { JOB_STATES, type JobState } from '../../core/types.js';
import { requires } from '../auth.js';
import { jobCountsQuery, parseRequest, reportQuery } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

/**
 * The operator's figures: the SLO report over a time range (core/slo-report.ts, measured by the store's
 * jobReport, so every replica answers alike, a restarted one too), and job counts by state and queue
 * (what a dashboard shows as totals, one aggregate over an index).
 */
export function reportRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/report', requires('jobs.read'), async (req) => {
    const q = parseRequest(reportQuery, req.query);
    const range = resolveReportRange(q, ctx.clock.now());
    const figures = await ctx.store.jobReport(q.queue === undefined ? range : { ...range, queue: q.queue });
    return buildSloReport(figures, range, q.queue ?? null, ctx.slo ?? DEFAULT_SLO_THRESHOLDS);
  });

  app.get('/v1/jobs/counts', requires('jobs.read'), async (req) => {
    const q = parseRequest(jobCountsQuery, req.query);
    const stats = await ctx.store.jobStats();
    const zero = (): Record<JobState, number> => Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    const queues = new Map<string, { queue: string; total: number; byState: Record<JobState, number>; dlq: number }>();
    const queueOf = (queue: string) => queues.get(queue) ?? queues.set(queue, { queue, total: 0, byState: zero(), dlq: 0 }).get(queue)!;
    for (const r of stats.byQueueState) {
      if (q.queue !== undefined && r.queue !== q.queue) continue;
      const entry = queueOf(r.queue);
      entry.byState[r.state] += r.count;
      entry.total += r.count;
    }
    for (const r of stats.dlqByQueue) if (q.queue === undefined || r.queue === q.queue) queueOf(r.queue).dlq += r.count;
    const all = [...queues.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
    const byState = zero();
    for (const entry of all) for (const s of JOB_STATES) byState[s] += entry.byState[s];
    return { queue: q.queue ?? null, total: all.reduce((n, e) => n + e.total, 0), byState, dlq: all.reduce((n, e) => n + e.dlq, 0), queues: all };
  });
}
