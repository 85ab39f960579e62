import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ownerOf } from '../../core/access.js';
import { ValidationError } from '../../core/errors.js';
import { poolNameSchema, TASK_STATES, type Pool } from '../../core/pool-spec.js';
import { auditIdList } from '../audit-log.js';
import { audited, principalOf, requires } from '../auth.js';
import { parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

const poolParams = z.strictObject({ name: poolNameSchema });
const taskParams = z.strictObject({ name: poolNameSchema, id: z.string().regex(/^[1-9][0-9]{0,14}$/, 'must be a task ID (a positive integer)').transform(Number) });
/** Seconds to wait for results; at most 5 minutes per request (wait again for longer). */
const waitQuery = z.strictObject({ wait: z.coerce.number().min(0, 'must be 0-300 seconds').max(300, 'must be 0-300 seconds').optional() });
const listTasksQuery = z.strictObject({
  state: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(TASK_STATES as [string, ...string[]], { message: `each state must be one of ${TASK_STATES.join(', ')}` })))
    .optional(),
  dlq: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  limit: z.coerce.number().int('must be an integer').min(1).max(1000).default(100),
  cursor: z.string().max(64).optional(),
});
const evictBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).default({});
const replayBody = z.union([z.strictObject({ ids: z.array(z.int().min(1)).min(1).max(5000) }), z.strictObject({ all: z.literal(true) })], { message: 'give {"ids": [task ID, ...]} or {"all": true}' });

const poolTarget = (req: FastifyRequest): string => `pool ${String((req.params as { name?: unknown }).name ?? (req.body as { name?: unknown } | undefined)?.name ?? '?')}`;
const changed = (pools: Pool[]): string => (pools.length === 0 ? 'no change' : pools.map((p) => p.name).join(' '));

/**
 * Warm worker pools (ADR 0016): definitions and operations (operators: pools.manage, each audited), tasks
 * (pools.submit), and reads (pools.read). The replica hosts' own endpoints are in pool-replicas.ts.
 */
export function poolRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const pools = ctx.pools;

  app.post('/v1/pools', requires('pools.manage', audited('pools.create', poolTarget)), async (req, reply) =>
    ctx.audit.runAtomic(principalOf(req), 'pools.create', poolTarget(req), async (ok) => {
      const pool = await pools.create(req.body, (p) => ok(`generation ${p.generation}; ${p.spec.gpus} GPU(s) × ${p.spec.minReplicas}-${p.spec.maxReplicas} replicas`));
      reply.code(201);
      return { pool };
    }),
  );

  app.get('/v1/pools', requires('pools.read'), async () => ({ pools: await pools.views() }));

  // Before /v1/pools/:name/…: a pool cannot be named stop-all (names are checked against it at create).
  app.post('/v1/pools/stop-all', requires('pools.manage', audited('pools.stop-all', () => 'all pools')), async (req) =>
    ctx.audit.runAtomic(principalOf(req), 'pools.stop-all', 'all pools', async (ok) => {
      const stopped = await pools.stopAll((ps) => ok(`stopped: ${changed(ps)}`));
      return { stopped: stopped.map((p) => p.name) };
    }),
  );

  app.get('/v1/pools/:name', requires('pools.read'), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    const [pool] = await pools.views(name);
    return { pool };
  });

  app.patch('/v1/pools/:name', requires('pools.manage', audited('pools.update', poolTarget)), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    return ctx.audit.runAtomic(principalOf(req), 'pools.update', `pool ${name}`, async (ok) => {
      const fields = req.body !== null && typeof req.body === 'object' ? Object.keys(req.body).join(', ') : '';
      const pool = await pools.update(name, req.body, (p) => (p === null ? null : ok(`generation ${p.generation}: ${fields}`)));
      return { pool };
    });
  });

  for (const [verb, state] of [['stop', 'stopped'], ['start', 'active']] as const) {
    const action = verb === 'stop' ? 'pools.stop' : 'pools.start';
    app.post(`/v1/pools/:name/${verb}`, requires('pools.manage', audited(action, poolTarget)), async (req) => {
      const { name } = parseRequest(poolParams, req.params);
      return ctx.audit.runAtomic(principalOf(req), action, `pool ${name}`, async (ok) => ({ pool: await pools.setState(name, state, (ps) => ok(ps.length === 0 ? `already ${state}` : `now ${state}`)) }));
    });
  }

  app.post('/v1/pools/:name/evict', requires('pools.manage', audited('pools.evict', poolTarget)), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    const { reason } = parseRequest(evictBody, req.body ?? undefined);
    return ctx.audit.runAtomic(principalOf(req), 'pools.evict', `pool ${name}`, async (ok) => ({ evicted: await pools.evict(name, reason ?? 'by an operator', () => ok(reason ?? null)) }));
  });

  app.delete('/v1/pools/:name', requires('pools.manage', audited('pools.delete', poolTarget)), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    return ctx.audit.runAtomic(principalOf(req), 'pools.delete', `pool ${name}`, async (ok) => {
      const evicted = await pools.delete(name, (live) => (live === null ? null : ok(`${live.length} live replica(s) killed${auditIdList(live)}`)));
      return { deleted: true, evicted };
    });
  });

  // ── tasks ──────────────────────────────────────────────────────────────

  app.post('/v1/pools/:name/tasks', requires('pools.submit'), async (req, reply) => {
    const { name } = parseRequest(poolParams, req.params);
    const { wait } = parseRequest(waitQuery, req.query);
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ValidationError([{ path: '', message: 'body must be a task {"payload": ..., "idempotencyKey"?: "..."}, or {"tasks": [task, ...]} for a batch' }]);
    }
    const isBatch = 'tasks' in body;
    if (isBatch && Object.keys(body).length > 1) throw new ValidationError([{ path: '', message: `unknown field(s) ${Object.keys(body).filter((k) => k !== 'tasks').map((k) => `"${k}"`).join(', ')} beside "tasks"` }]);
    const out = await pools.submit(name, isBatch ? (body as { tasks: unknown }).tasks : [body], ownerOf(principalOf(req)));
    reply.code(out.some((o) => o.created) ? 201 : 200);
    if (wait !== undefined && wait > 0) {
      const tasks = await pools.waitForTasks(name, out.map((o) => o.task.id), wait * 1000);
      return isBatch ? { tasks } : { task: tasks[0] ?? out[0]!.task, created: out[0]!.created };
    }
    return isBatch ? { tasks: out.map((o) => ({ id: o.task.id, state: o.task.state, created: o.created })) } : { task: out[0]!.task, created: out[0]!.created };
  });

  app.get('/v1/pools/:name/tasks', requires('pools.read'), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    const q = parseRequest(listTasksQuery, req.query);
    const page = await pools.listTasks(name, { states: q.state as never, inDlq: q.dlq }, { limit: q.limit, cursor: q.cursor });
    return { tasks: page.items, nextCursor: page.nextCursor };
  });

  app.get('/v1/pools/:name/tasks/:id', requires('pools.read'), async (req) => {
    const { name, id } = parseRequest(taskParams, req.params);
    const { wait } = parseRequest(waitQuery, req.query);
    return { task: await pools.task(name, id, (wait ?? 0) * 1000) };
  });

  app.post('/v1/pools/:name/dlq/replay', requires('pools.manage', audited('pools.replay', poolTarget)), async (req) => {
    const { name } = parseRequest(poolParams, req.params);
    const selector = parseRequest(replayBody, req.body);
    return ctx.audit.runAtomic(principalOf(req), 'pools.replay', `pool ${name}`, async (ok) => {
      const replayed = await pools.replay(name, selector, (ts) => ok(`replayed ${ts.length} task(s)${auditIdList(ts.map((t) => t.id))}`));
      return { replayed };
    });
  });
}
