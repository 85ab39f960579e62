import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allows, cancelAction, ownerOf } from '../../core/access.js';
import { dependencyWaitingReason } from '../../core/dependencies.js';
import { JobNotFoundError, ValidationError } from '../../core/errors.js';
import { TERMINAL_JOB_STATES, type Job } from '../../core/types.js';
import type { AuditOf } from '../../store/access-store.js';
import type { CancelOutcome } from '../../store/store.js';
import type { JobSort } from '../../core/job-sort.js';
import { auditIdList } from '../audit-log.js';
import { audited, forbidden, principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { cancelBody, jobIdParams, listJobsQuery, parseRequest, queueParams } from '../request-schemas.js';

const queueTarget = (req: FastifyRequest): string => `queue ${String((req.params as { queue?: unknown }).queue)}`;

/**
 * Jobs: submit (one or a batch), get, list, cancel one, cancel a queue.
 * A submitted job is owned by the submitting token; a submitter cancels only
 * its own jobs, an operator any (audited when it is someone else's).
 */
export function jobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/v1/jobs', requires('jobs.submit'), async (req, reply) => {
    const owner = ownerOf(principalOf(req));
    const body = req.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ValidationError([{ path: '', message: 'body must be a job spec object, or {"jobs": [spec, ...]} for a batch' }]);
    }
    const isBatch = 'jobs' in body;
    if (isBatch) {
      const { jobs, ...rest } = body as { jobs: unknown };
      if (!Array.isArray(jobs)) throw new ValidationError([{ path: 'jobs', message: 'must be an array of job specs' }]);
      if (Object.keys(rest).length > 0) throw new ValidationError([{ path: '', message: `unknown field(s) ${Object.keys(rest).map((k) => `"${k}"`).join(', ')} beside "jobs"` }]);
      const out = await ctx.controlPlane.submit(jobs, owner);
      reply.code(out.some((o) => o.created) ? 201 : 200);
      return { jobs: out.map((o) => ({ id: o.job.id, state: o.job.state, created: o.created })) };
    }
    const [out] = await ctx.controlPlane.submit([body], owner);
    reply.code(out!.created ? 201 : 200);
    return { job: out!.job, created: out!.created };
  });

  app.get('/v1/jobs', requires('jobs.read'), async (req) => {
    const q = parseRequest(listJobsQuery, req.query);
    const principal = principalOf(req);
    // `me` with auth off: `local` owns the jobs that have no owner, which no filter on a token id finds; say so.
    if (q.owner === 'me' && principal.kind !== 'token') throw new ValidationError([{ path: 'owner', message: '"me" needs an API token: with auth off, jobs have no owner' }]);
    const byTokenId = q.owner !== undefined && /^(me|tok_[0-9a-f]{16})$/.test(q.owner);
    const ownerTokenId = q.owner === 'me' && principal.kind === 'token' ? principal.tokenId : byTokenId ? q.owner : undefined;
    const page = await ctx.store.listJobs(
      { states: q.state as never, queue: q.queue, labels: q.label, ownerTokenId, ownerName: byTokenId ? undefined : q.owner, nameContains: q.name },
      { limit: q.limit, cursor: q.cursor },
      q.sort as JobSort,
    );
    return { jobs: page.items, nextCursor: page.nextCursor };
  });

  app.get('/v1/jobs/:id', requires('jobs.read'), async (req) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const job = await ctx.controlPlane.getJob(id);
    const [plainAttempts, events, dependencies, gpuUsage] = await Promise.all([
      ctx.store.listAttempts(id),
      ctx.store.listEvents(id),
      job.spec.dependsOn.length > 0 ? ctx.store.listDependencies(id) : [],
      ctx.store.listGpuUsage(id),
    ]);
    // Each attempt with what its GPUs did (core/gpu-usage.ts): live figures while it runs, final once it ended.
    const attempts = plainAttempts.map((a) => ({ ...a, gpuUsage: gpuUsage.filter((u) => u.attemptId === a.id).map(({ attemptId: _, ...u }) => u) }));
    // A job waiting for its dependencies is never read by the scheduler: the reason is theirs.
    const waitingForDependencies = job.state === 'queued' ? dependencyWaitingReason(dependencies) : null;
    const waiting = job.state === 'queued' ? (waitingForDependencies ?? ctx.scheduler.waitingReason(id)) : null;
    const waitingOn = job.state === 'queued' ? dependencies.filter((d) => !d.met && d.state !== 'succeeded').map((d) => d.jobId) : [];
    return { job, attempts, events, dependencies, waitingOn, waiting };
  });

  // Needs jobs.cancel.own to enter; cancelling another token's job needs jobs.cancel.any, checked here because it depends on the job.
  app.post('/v1/jobs/:id/cancel', requires('jobs.cancel.own'), async (req) => {
    const principal = principalOf(req);
    const { id } = parseRequest(jobIdParams, req.params);
    const { reason } = parseRequest(cancelBody, req.body ?? undefined);
    const current = await ctx.controlPlane.getJob(id);
    const cancel = async (audit?: AuditOf<CancelOutcome>): Promise<{ job: Job; cancelled: boolean; dependentsFailed: number[] }> => {
      const outcome = await ctx.controlPlane.cancel({ ids: [id] }, reason ?? 'cancelled by user', audit);
      const job = outcome.cancelled[0] ?? (await ctx.store.getJob(id));
      if (!job) throw new JobNotFoundError(id);
      return { job, cancelled: outcome.cancelled.length === 1, dependentsFailed: outcome.dependentsFailed.map((j) => j.id) };
    };
    if (cancelAction(principal, current.ownerTokenId) === 'jobs.cancel.own') return cancel();
    const target = `job ${id}${current.owner !== null ? ` (owner ${current.owner})` : ''}`;
    if (!allows(principal, 'jobs.cancel.any')) {
      const refusal = forbidden(principal, 'jobs.cancel.any', `job ${id} belongs to ${current.owner === null ? 'no token' : `token "${current.owner}"`}`);
      await ctx.audit.record(ctx.audit.entry(principal, 'jobs.cancel.any', target, 'denied', refusal.message));
      throw refusal;
    }
    return ctx.audit.runAtomic(principal, 'jobs.cancel.any', target, (ok) =>
      cancel((o) => ok(o.cancelled.length === 1 ? `cancelled${reason ? `: ${reason}` : ''}` : `already ${TERMINAL_JOB_STATES.includes(current.state) ? current.state : 'ended'}; nothing to cancel`)),
    );
  });

  app.post('/v1/queues/:queue/cancel', requires('queue.cancel', audited('queue.cancel', queueTarget)), async (req) => {
    const { queue } = parseRequest(queueParams, req.params);
    const { reason } = parseRequest(cancelBody, req.body ?? undefined);
    const idsOf = (o: CancelOutcome) => ({ ids: o.cancelled.map((j) => j.id), failed: o.dependentsFailed.map((j) => j.id) });
    return ctx.audit.runAtomic(principalOf(req), 'queue.cancel', `queue ${queue}`, async (ok) => {
      const outcome = await ctx.controlPlane.cancel({ queue }, reason ?? `queue ${queue} cancelled by user`, (o) => {
        const { ids, failed } = idsOf(o);
        return ok(`cancelled ${ids.length} job(s)${auditIdList(ids)}${failed.length > 0 ? `; ${failed.length} job(s) waiting for them failed${auditIdList(failed)}` : ''}${reason ? `: ${reason}` : ''}`);
      });
      const { ids, failed } = idsOf(outcome);
      return { cancelled: ids.length, ids, dependentsFailed: failed };
    });
  });
}
