import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ReplicaGoneError } from '../../core/errors.js';
import { endRequestSchema, parseExchangeRequest, readyRequestSchema, replicaParamsSchema } from '../../pools/protocol-schemas.js';
import { requires } from '../auth.js';
import { parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

/** The bearer credential of a replica host's request (its attempt's, pools/replica-credentials.ts). */
function credentialOf(req: FastifyRequest, jobId: number): string {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || !h.startsWith('Bearer ')) throw new ReplicaGoneError(jobId, 'no credential (Authorization: Bearer <GPUQ_POOL_CREDENTIAL>)');
  return h.slice(7);
}

/**
 * The replica hosts' endpoints (pools/protocol.ts, ADR 0016): ready, exchange (results in, tasks out) and end.
 * Not API tokens: each request carries its replica attempt's credential, good for that attempt only, so these
 * routes are `public` to the token check and check the credential themselves; a wrong one is REPLICA_GONE.
 */
export function poolReplicaRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const pools = ctx.pools;

  app.post('/v1/pools/:name/replicas/:job/ready', requires('public'), async (req) => {
    const { job } = parseRequest(replicaParamsSchema, req.params);
    const { attemptId } = parseRequest(readyRequestSchema, req.body);
    pools.authenticateReplica(job, attemptId, credentialOf(req, job));
    await pools.replicaReady(job, attemptId);
    return { ok: true };
  });

  app.post('/v1/pools/:name/replicas/:job/exchange', requires('public'), async (req) => {
    const { name, job } = parseRequest(replicaParamsSchema, req.params);
    const body = parseExchangeRequest(req.body);
    pools.authenticateReplica(job, body.attemptId, credentialOf(req, job));
    return pools.exchange(name, job, body.attemptId, body.results, body.held, body.want, body.waitMs);
  });

  app.post('/v1/pools/:name/replicas/:job/end', requires('public'), async (req) => {
    const { job } = parseRequest(replicaParamsSchema, req.params);
    const { attemptId, reason, detail } = parseRequest(endRequestSchema, req.body);
    pools.authenticateReplica(job, attemptId, credentialOf(req, job));
    await pools.replicaEnd(job, reason, detail);
    return { ok: true };
  });
}
