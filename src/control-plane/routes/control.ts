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
    return ctx.audit.run(principalOf(req), 'control.maintenance', mode, async () => {
      const before = ctx.controlPlane.maintenanceMode;
      await ctx.controlPlane.setMaintenanceMode(mode);
      const live = await ctx.store.listLiveAttempts();
      return { result: { mode, running: live.length }, detail: `${before === mode ? `already ${mode}` : `${before} → ${mode}`}; ${live.length} attempt(s) running` };
    });
  });
}
