import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../server-context.js';
import { maintenanceBody, parseRequest } from '../request-schemas.js';

/** Maintenance mode: `drain` refuses new jobs and starts nothing new, running jobs finish; `normal` resumes. Persisted. */
export function controlRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/control/maintenance', async () => ({ mode: ctx.controlPlane.maintenanceMode }));
  app.post('/v1/control/maintenance', async (req) => {
    const { mode } = parseRequest(maintenanceBody, req.body);
    await ctx.controlPlane.setMaintenanceMode(mode);
    const live = await ctx.store.listLiveAttempts();
    return { mode, running: live.length };
  });
}
