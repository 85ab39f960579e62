import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ownerOf } from '../../core/access.js';
import type { AuditOf } from '../../store/access-store.js';
import { audited, principalOf, requires } from '../auth.js';
import { parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a pipeline name: 1-63 lowercase letters, digits or "-"');
const pipelineParams = z.strictObject({ name });
const runParams = z.strictObject({ id: z.string().regex(/^[1-9][0-9]{0,14}$/, 'must be a run ID (a positive integer)').transform(Number) });
const runsQuery = z.strictObject({
  pipeline: name.optional(),
  before: z.coerce.number().int('must be an integer').min(1).optional(),
  limit: z.coerce.number().int('must be an integer').min(1).max(1000).default(50),
});

const triggerParams = z.strictObject({ name });
const pauseBody = z.union([z.strictObject({ names: z.array(name).min(1).max(1000) }), z.strictObject({ all: z.literal(true) })], { message: 'give {"names": [name, ...]} or {"all": true}' });
const triggerTarget = (req: FastifyRequest): string => `trigger ${String((req.params as { name?: unknown }).name ?? (req.body as { name?: unknown } | undefined)?.name ?? '?')}`;

const pipelineTarget = (req: FastifyRequest): string => `pipeline ${String((req.params as { name?: unknown }).name ?? (req.body as { name?: unknown } | undefined)?.name ?? '?')}`;

/**
 * Pipelines (ADR 0018): definitions (operators: pipelines.manage, audited), runs (pipelines.run: the jobs are owned
 * by the caller) and reads (pipelines.read).
 */
export function pipelineRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const pipelines = ctx.pipelines;

  app.post('/v1/pipelines', requires('pipelines.manage', audited('pipelines.create', pipelineTarget)), async (req, reply) =>
    ctx.audit.runAtomic(principalOf(req), 'pipelines.create', pipelineTarget(req), async (ok) => {
      const pipeline = await pipelines.create(req.body, (p) => ok(`${p.spec.steps.length} step(s): ${p.spec.steps.map((s) => s.name).join(', ')}; output ${p.spec.outputDir}`));
      reply.code(201);
      return { pipeline };
    }),
  );

  app.get('/v1/pipelines', requires('pipelines.read'), async () => ({ pipelines: await pipelines.list() }));

  app.get('/v1/pipelines/:name', requires('pipelines.read'), async (req) => {
    const p = parseRequest(pipelineParams, req.params);
    const [pipeline, runs] = await Promise.all([pipelines.pipeline(p.name), pipelines.listRuns({ pipeline: p.name, limit: 20 })]);
    return { pipeline, runs };
  });

  app.delete('/v1/pipelines/:name', requires('pipelines.manage', audited('pipelines.delete', pipelineTarget)), async (req) => {
    const p = parseRequest(pipelineParams, req.params);
    return ctx.audit.runAtomic(principalOf(req), 'pipelines.delete', `pipeline ${p.name}`, async (ok) => {
      await pipelines.delete(p.name, (deleted) => (deleted ? ok('its runs are kept') : null));
      return { deleted: true };
    });
  });

  app.post('/v1/pipelines/:name/runs', requires('pipelines.run'), async (req, reply) => {
    const p = parseRequest(pipelineParams, req.params);
    const run = await pipelines.run(p.name, req.body, ownerOf(principalOf(req)));
    reply.code(201);
    return { run };
  });

  app.get('/v1/pipeline-runs', requires('pipelines.read'), async (req) => {
    const q = parseRequest(runsQuery, req.query);
    const runs = await pipelines.listRuns({ ...(q.pipeline ? { pipeline: q.pipeline } : {}), ...(q.before ? { before: q.before } : {}), limit: q.limit });
    return { runs, nextBefore: runs.length === q.limit ? runs.at(-1)!.id : null };
  });

  app.get('/v1/pipeline-runs/:id', requires('pipelines.read'), async (req) => {
    const { id } = parseRequest(runParams, req.params);
    return { run: await pipelines.getRun(id) };
  });

  // ── directory triggers ────────────────────────────────────────────────
  const triggers = ctx.triggers;

  app.post('/v1/triggers', requires('pipelines.manage', audited('triggers.create', triggerTarget)), async (req, reply) =>
    ctx.audit.runAtomic(principalOf(req), 'triggers.create', triggerTarget(req), async (ok) => {
      const trigger = await triggers.create(req.body, (t) => ok(`${t.spec.directory} → pipeline ${t.spec.pipeline} (${t.spec.complete.mode})`));
      reply.code(201);
      return { trigger };
    }),
  );

  app.get('/v1/triggers', requires('pipelines.read'), async () => ({ triggers: await triggers.list() }));

  app.get('/v1/triggers/:name', requires('pipelines.read'), async (req) => ({ trigger: await triggers.trigger(parseRequest(triggerParams, req.params).name) }));

  app.delete('/v1/triggers/:name', requires('pipelines.manage', audited('triggers.delete', triggerTarget)), async (req) => {
    const t = parseRequest(triggerParams, req.params);
    return ctx.audit.runAtomic(principalOf(req), 'triggers.delete', `trigger ${t.name}`, async (ok) => {
      await triggers.delete(t.name, (deleted) => (deleted ? ok(null) : null));
      return { deleted: true };
    });
  });

  app.post('/v1/triggers/:name/retry', requires('pipelines.manage', audited('triggers.retry', triggerTarget)), async (req) => {
    const t = parseRequest(triggerParams, req.params);
    const { file } = parseRequest(z.strictObject({ file: z.string().min(1).max(255) }), req.body);
    // A file move, not a store write: recorded after it (a failure is recorded by runAtomic).
    return ctx.audit.runAtomic(principalOf(req), 'triggers.retry', `trigger ${t.name}`, async () => {
      const moved = await triggers.retry(t.name, file);
      await ctx.audit.record(ctx.audit.entry(principalOf(req), 'triggers.retry', `trigger ${t.name}`, 'ok', file));
      return { file: moved };
    });
  });

  pauseRoutes(app, ctx, 'triggers', triggers);

  // ── schedules ───────────────────────────────────────────────────────
  const schedules = ctx.schedules;
  const scheduleTarget = (req: FastifyRequest): string => `schedule ${String((req.params as { name?: unknown }).name ?? (req.body as { name?: unknown } | undefined)?.name ?? '?')}`;

  app.post('/v1/schedules', requires('pipelines.manage', audited('schedules.create', scheduleTarget)), async (req, reply) =>
    ctx.audit.runAtomic(principalOf(req), 'schedules.create', scheduleTarget(req), async (ok) => {
      const schedule = await schedules.create(req.body, (s) => ok(`${s.spec.cron} → ${'pipeline' in s.spec.target ? `pipeline ${s.spec.target.pipeline}` : 'job'} (missed: ${s.spec.missed})`));
      reply.code(201);
      return { schedule };
    }),
  );

  app.get('/v1/schedules', requires('pipelines.read'), async () => ({ schedules: await schedules.list() }));

  app.get('/v1/schedules/:name', requires('pipelines.read'), async (req) => {
    const { name: n } = parseRequest(triggerParams, req.params);
    return { schedule: await schedules.schedule(n), fires: await schedules.fires(n) };
  });

  app.delete('/v1/schedules/:name', requires('pipelines.manage', audited('schedules.delete', scheduleTarget)), async (req) => {
    const s = parseRequest(triggerParams, req.params);
    return ctx.audit.runAtomic(principalOf(req), 'schedules.delete', `schedule ${s.name}`, async (ok) => {
      await schedules.delete(s.name, (deleted) => (deleted ? ok(null) : null));
      return { deleted: true };
    });
  });

  pauseRoutes(app, ctx, 'schedules', schedules);
}

/**
 * POST /v1/{triggers,schedules}/pause|resume with {"names": [...]} or {"all": true}: durable, audited
 * ({kind}.pause, {kind}.resume); answers the names changed and every one of them as it is now.
 */
function pauseRoutes<T extends { name: string }>(
  app: FastifyInstance,
  ctx: ServerContext,
  kind: 'triggers' | 'schedules',
  service: { setPaused(names: string[] | 'all', paused: boolean, audit?: AuditOf<T[]>): Promise<T[]>; list(): Promise<T[]> },
): void {
  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    const action = `${kind}.${verb}` as const;
    app.post(`/v1/${kind}/${verb}`, requires('pipelines.manage', audited(action, () => kind)), async (req) => {
      const body = parseRequest(pauseBody, req.body);
      const names = 'all' in body ? ('all' as const) : body.names;
      return ctx.audit.runAtomic(principalOf(req), action, names === 'all' ? `all ${kind}` : `${kind} ${names.join(' ')}`, async (ok) => {
        const changed = await service.setPaused(names, paused, (xs) => ok(xs.length === 0 ? 'no change' : xs.map((x) => x.name).join(' ')));
        return { changed: changed.map((x) => x.name), [kind]: await service.list() };
      });
    });
  }
}
