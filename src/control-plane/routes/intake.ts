import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { audited, principalOf, requires } from '../auth.js';
import { GpuqError } from '../../core/errors.js';
import type { AuditAction } from '../../core/access.js';
import { parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

/** POST /v1/intake/pause and /resume: named sources, or every source at once (the emergency stop). */
const pauseBody = z
  .strictObject({
    all: z.boolean().optional(),
    sources: z.array(z.string().min(1).max(63)).min(1).max(100).optional(),
  })
  .refine((b) => (b.all === true) !== (b.sources !== undefined), { message: 'give either "all": true or "sources": [names]', path: ['sources'] });

/** The audit target: what was asked for, read from a body that may be invalid. */
const pauseTarget = (req: FastifyRequest): string => {
  const body = req.body as { all?: unknown; sources?: unknown } | undefined;
  return body?.all === true ? 'all sources' : Array.isArray(body?.sources) ? `sources ${body.sources.map(String).join(' ')}` : '?';
};

/**
 * Broker intake (ADR 0017): its sources' and sinks' state (viewers), and pause/resume of named sources or all of
 * them (operators; durable in the store, audited in the same transaction). Every server answers; the leader's
 * sources follow a pause within 250 ms (this server's at once).
 */
export function intakeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const service = () => {
    if (!ctx.intake) throw new GpuqError('NOT_FOUND', 'this server runs no broker intake');
    return ctx.intake;
  };
  app.get('/v1/intake', requires('intake.read'), async () => service().view());
  for (const [verb, paused, action] of [['pause', true, 'intake.pause'], ['resume', false, 'intake.resume']] as const satisfies readonly (readonly [string, boolean, AuditAction])[]) {
    app.post(`/v1/intake/${verb}`, requires('intake.manage', audited(action, pauseTarget)), async (req) => {
      const body = parseRequest(pauseBody, req.body ?? {});
      const target = body.all === true ? 'all' : body.sources!;
      const label = target === 'all' ? 'all sources' : `sources ${target.join(' ')}`;
      return ctx.audit.runAtomic(principalOf(req), action, label, async (ok) => {
        const pauses = await service().setPaused(target, paused, (p) => ok(`now paused: ${p.all ? 'all (emergency stop)' : p.sources.length === 0 ? 'none' : p.sources.join(' ')}`));
        return { paused: pauses };
      });
    });
  }
}
