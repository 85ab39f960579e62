import type { FastifyInstance } from 'fastify';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { auditQuery, parseRequest } from '../request-schemas.js';

/** The audit log of operator actions, newest first. */
export function auditRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/audit', requires('audit.read'), async (req) => {
    const q = parseRequest(auditQuery, req.query);
    const page = await ctx.store.listAudit({ action: q.action }, { limit: q.limit, cursor: q.cursor });
    return { entries: page.items, nextCursor: page.nextCursor };
  });
}
