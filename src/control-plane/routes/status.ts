import type { FastifyInstance } from 'fastify';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';

/**
 * Who leads the control plane (cluster mode; an embedded server leads itself).
 * Any server answers from the store, so every server gives the same answer.
 */
export function statusRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/status/leader', requires('system.read'), async () => {
    const lease = await ctx.store.getLeadership();
    const now = ctx.clock.now();
    return {
      leader:
        lease === null || lease.expiresAt <= now
          ? null
          : { replica: lease.holder, url: lease.url, term: lease.term, since: lease.since, renewedAt: lease.renewedAt, expiresAt: lease.expiresAt },
      lastTerm: lease?.term ?? null,
      self: { replica: ctx.replicaId, leader: ctx.controlPlane.isLeader },
    };
  });
}
