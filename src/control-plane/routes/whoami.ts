import type { FastifyInstance } from 'fastify';
import { whoAmI, type WhoAmI } from '../../core/whoami.js';
import { principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';

/**
 * GET /v1/whoami: the caller's identity and grants (core/whoami.ts). What the dashboard asks after a login,
 * to show who is signed in and to disable the buttons of actions the role lacks. Any human role may ask
 * (a viewer's read is enough).
 */
export function whoamiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/whoami', requires('jobs.read'), async (req): Promise<WhoAmI> => whoAmI(principalOf(req), ctx.auth));
}
