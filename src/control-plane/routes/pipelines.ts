import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ownerOf } from '../../core/access.js';
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
}
