import type { FastifyInstance } from 'fastify';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';

/**
 * Who leads the control plane (cluster mode; an embedded server leads itself), and which servers are alive.
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
      // The servers that recorded themselves within three election steps: alive now.
      replicas: (await ctx.store.listReplicas(now - ctx.replicaAliveMs)).map((r) => ({ ...r, leader: lease !== null && lease.expiresAt > now && lease.holder === r.id })),
    };
  });
}
