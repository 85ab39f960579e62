import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditActor } from '../../core/access.js';
import { GpuqError } from '../../core/errors.js';
import { audited, principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { listTokensQuery, newTokenBody, parseRequest, tokenIdParams } from '../request-schemas.js';
import { issueToken } from '../tokens.js';

/** The audit target of a create request, read from a body that may be invalid. */
const createTarget = (req: FastifyRequest): string => `token ${String((req.body as { name?: unknown } | undefined)?.name ?? '?')}`;
const revokeTarget = (req: FastifyRequest): string => `token ${String((req.params as { id?: unknown }).id)}`;

/**
 * API tokens (admin only): create (the plaintext is in this answer and nowhere
 * else, ever), list (never the hashes), revoke. Creation and revocation are
 * written to the audit log in the same transaction as the change.
 */
export function tokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/tokens', requires('tokens.manage', audited('tokens.create', createTarget)), async (req, reply) => {
    const principal = principalOf(req);
    const input = parseRequest(newTokenBody, req.body);
    let issued;
    try {
      issued = await issueToken(ctx.store, ctx.clock.now(), input, principal);
    } catch (err) {
      await ctx.audit.record(ctx.audit.entry(principal, 'tokens.create', `token ${input.name}`, 'failed', err instanceof Error ? err.message : String(err)));
      throw err;
    }
    reply.code(201);
    return { token: issued.token, id: issued.id, name: issued.name, role: issued.role, createdAt: issued.createdAt };
  });

  app.get('/v1/tokens', requires('tokens.manage'), async (req) => {
    const { all } = parseRequest(listTokensQuery, req.query);
    return { tokens: await ctx.store.listTokens({ includeRevoked: all }) };
  });

  app.delete('/v1/tokens/:id', requires('tokens.manage', audited('tokens.revoke', revokeTarget)), async (req) => {
    const principal = principalOf(req);
    const { id } = parseRequest(tokenIdParams, req.params);
    const now = ctx.clock.now();
    const token = await ctx.store.revokeToken(id, now, (t, changed) => ({
      at: now,
      ...auditActor(principal),
      action: 'tokens.revoke',
      target: `token ${t.name} (${t.id})`,
      outcome: 'ok',
      detail: changed ? `revoked (role ${t.role})` : 'already revoked; nothing changed',
    }));
    if (!token) {
      await ctx.audit.record(ctx.audit.entry(principal, 'tokens.revoke', `token ${id}`, 'failed', 'no such token'));
      throw new GpuqError('NOT_FOUND', `no token ${id}; \`gpuq token ls --all\` lists them`);
    }
    return { token };
  });
}
