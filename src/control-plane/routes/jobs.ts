import type { FastifyInstance } from 'fastify';
import { JobNotFoundError, ValidationError } from '../../core/errors.js';
import type { ServerContext } from '../server-context.js';
import { cancelBody, jobIdParams, listJobsQuery, parseRequest, queueParams } from '../request-schemas.js';

/** Jobs: submit (one or a batch), get, list, cancel one, cancel a queue. */
export function jobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/jobs', async (req, reply) => {
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ValidationError([{ path: '', message: 'body must be a job spec object, or {"jobs": [spec, ...]} for a batch' }]);
    }
    const isBatch = 'jobs' in body;
    if (isBatch) {
      const { jobs, ...rest } = body as { jobs: unknown };
      if (!Array.isArray(jobs)) throw new ValidationError([{ path: 'jobs', message: 'must be an array of job specs' }]);
      if (Object.keys(rest).length > 0) throw new ValidationError([{ path: '', message: `unknown field(s) ${Object.keys(rest).map((k) => `"${k}"`).join(', ')} beside "jobs"` }]);
      const out = await ctx.controlPlane.submit(jobs);
      reply.code(out.some((o) => o.created) ? 201 : 200);
      return { jobs: out.map((o) => ({ id: o.job.id, state: o.job.state, created: o.created })) };
    }
    const [out] = await ctx.controlPlane.submit([body]);
    reply.code(out!.created ? 201 : 200);
    return { job: out!.job, created: out!.created };
  });

  app.get('/v1/jobs', async (req) => {
    const q = parseRequest(listJobsQuery, req.query);
    const page = await ctx.store.listJobs(
      { states: q.state as never, queue: q.queue, labels: q.label },
      { limit: q.limit, cursor: q.cursor },
    );
    return { jobs: page.items, nextCursor: page.nextCursor };
  });

  app.get('/v1/jobs/:id', async (req) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const job = await ctx.controlPlane.getJob(id);
    const [attempts, events] = await Promise.all([ctx.store.listAttempts(id), ctx.store.listEvents(id)]);
    const waiting = job.state === 'queued' ? ctx.scheduler.waitingReason(id) : null;
    return { job, attempts, events, waiting };
  });

  app.post('/v1/jobs/:id/cancel', async (req) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const { reason } = parseRequest(cancelBody, req.body ?? undefined);
    const outcome = await ctx.controlPlane.cancel({ ids: [id] }, reason ?? 'cancelled by user');
    const job = outcome.cancelled[0] ?? (await ctx.store.getJob(id));
    if (!job) throw new JobNotFoundError(id);
    return { job, cancelled: outcome.cancelled.length === 1 };
  });

  app.post('/v1/queues/:queue/cancel', async (req) => {
    const { queue } = parseRequest(queueParams, req.params);
    const { reason } = parseRequest(cancelBody, req.body ?? undefined);
    const outcome = await ctx.controlPlane.cancel({ queue }, reason ?? `queue ${queue} cancelled by user`);
    return { cancelled: outcome.cancelled.length, ids: outcome.cancelled.map((j) => j.id) };
  });
}
