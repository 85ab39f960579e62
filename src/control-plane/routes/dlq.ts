import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../server-context.js';
import { dlqQuery, dlqSelectorBody, parseRequest } from '../request-schemas.js';

/** The dead-letter queue: failed jobs that used their attempts, until replayed or purged. */
export function dlqRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/dlq', async (req) => {
    const q = parseRequest(dlqQuery, req.query);
    const page = await ctx.store.listJobs({ inDlq: true, queue: q.queue }, { limit: q.limit, cursor: q.cursor });
    return { jobs: page.items, nextCursor: page.nextCursor };
  });

  app.post('/v1/dlq/replay', async (req) => {
    const selector = parseRequest(dlqSelectorBody, req.body);
    const jobs = await ctx.controlPlane.replay(selector);
    return { replayed: jobs.length, ids: jobs.map((j) => j.id) };
  });

  app.post('/v1/dlq/purge', async (req) => {
    const selector = parseRequest(dlqSelectorBody, req.body);
    return { purged: await ctx.controlPlane.purgeDlq(selector) };
  });
}
