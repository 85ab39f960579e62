import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audited, principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { maintenanceBody, parseRequest } from '../request-schemas.js';

/** The audit target: the mode asked for, read from a body that may be invalid. */
const modeTarget = (req: FastifyRequest): string => String((req.body as { mode?: unknown } | undefined)?.mode ?? '?');

/** Maintenance mode: `drain` refuses new jobs and starts nothing new, running jobs finish; `normal` resumes. Persisted and audited. */
export function controlRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/control/maintenance', requires('control.read'), async () => ({ mode: ctx.controlPlane.maintenanceMode }));
  app.post('/v1/control/maintenance', requires('control.maintenance', audited('control.maintenance', modeTarget)), async (req) => {
    const { mode } = parseRequest(maintenanceBody, req.body);
    return ctx.audit.runAtomic(principalOf(req), 'control.maintenance', mode, async (ok) => {
      const before = ctx.controlPlane.maintenanceMode;
      const running = (await ctx.store.listLiveAttempts()).length;
      await ctx.controlPlane.setMaintenanceMode(mode, () => ok(`${before === mode ? `already ${mode}` : `${before} → ${mode}`}; ${running} attempt(s) running`));
      return { mode, running };
    });
  });
}
