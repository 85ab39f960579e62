import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { installAuth } from './auth.js';
import { toHttpError } from './http-errors.js';
import { agentRoutes } from './routes/agents.js';
import { auditRoutes } from './routes/audit.js';
import { controlRoutes } from './routes/control.js';
import { dlqRoutes } from './routes/dlq.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { intakeRoutes } from './routes/intake.js';
import { jobRoutes } from './routes/jobs.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/nodes.js';
import { poolReplicaRoutes } from './routes/pool-replicas.js';
import { pipelineRoutes } from './routes/pipelines.js';
import { poolRoutes } from './routes/pools.js';
import { openApiRoutes } from './routes/openapi.js';
import { reportRoutes } from './routes/report.js';
import { resultRoutes } from './routes/results.js';
import { statusRoutes } from './routes/status.js';
import { tokenRoutes } from './routes/tokens.js';
import { uiRoutes } from './routes/ui.js';
import { whoamiRoutes } from './routes/whoami.js';
import type { ServerContext } from './server-context.js';

/** The HTTP API: one module per concern under routes/, errors mapped in one place. */
export function buildServer(ctx: ServerContext, log: Logger, bodyLimitBytes: number): FastifyInstance {
  const app = Fastify({ loggerInstance: log as FastifyBaseLogger, bodyLimit: bodyLimitBytes, logController: new LogController({ disableRequestLogging: true }), return503OnClosing: true });
  app.setErrorHandler((err, req, reply) => {
    const { status, body, headers } = toHttpError(err);
    ctx.metrics.rejected.inc({ code: body.error.code });
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (headers) void reply.headers(headers);
    void reply.code(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    ctx.metrics.rejected.inc({ code: 'NOT_FOUND' });
    void reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}; see /v1/openapi.json` } });
  });
  installAuth(app, { mode: ctx.auth, store: ctx.store, audit: ctx.audit, now: () => ctx.clock.now() });
  for (const routes of [jobRoutes, poolRoutes, poolReplicaRoutes, pipelineRoutes, eventRoutes, logRoutes, resultRoutes, dlqRoutes, nodeRoutes, controlRoutes, intakeRoutes, statusRoutes, reportRoutes, tokenRoutes, auditRoutes, agentRoutes, healthRoutes, whoamiRoutes, uiRoutes, openApiRoutes]) routes(app, ctx);
  return app;
}
