import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Job } from '../../core/types.js';
import { auditIdList } from '../audit-log.js';
import { audited, principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { dlqQuery, dlqSelectorBody, parseRequest } from '../request-schemas.js';

/** What a replay or purge selects, for the audit log; reads a body that may be invalid. */
function dlqTarget(req: FastifyRequest): string {
  const b = (req.body ?? {}) as { ids?: unknown; all?: unknown; queue?: unknown };
  if (Array.isArray(b.ids)) return `DLQ jobs${auditIdList(b.ids.filter((i): i is number => typeof i === 'number'))}`;
  if (b.all === true) return typeof b.queue === 'string' ? `all DLQ jobs of queue ${b.queue}` : 'all DLQ jobs';
  return 'DLQ (no valid selector)';
}

/** The dead-letter queue: failed jobs that used their attempts, until replayed or purged (both audited). */
export function dlqRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/dlq', requires('dlq.read'), async (req) => {
    const q = parseRequest(dlqQuery, req.query);
    const page = await ctx.store.listJobs({ inDlq: true, queue: q.queue }, { limit: q.limit, cursor: q.cursor });
    return { jobs: page.items, nextCursor: page.nextCursor };
  });

  app.post('/v1/dlq/replay', requires('dlq.replay', audited('dlq.replay', dlqTarget)), async (req) => {
    const selector = parseRequest(dlqSelectorBody, req.body);
    return ctx.audit.runAtomic(principalOf(req), 'dlq.replay', dlqTarget(req), async (ok) => {
      // A job whose dependency is still failed (or gone) fails again at once (core/dependencies.ts).
      const failedAgainOf = (jobs: Job[]) => jobs.filter((j) => j.state === 'failed').map((j) => j.id);
      const jobs = await ctx.controlPlane.replay(selector, (replayed) => {
        const ids = replayed.map((j) => j.id);
        const failedAgain = failedAgainOf(replayed);
        const again = failedAgain.length > 0 ? `; ${failedAgain.length} failed again at once (a dependency failed)${auditIdList(failedAgain)}` : '';
        return ok(`replayed ${ids.length} job(s)${auditIdList(ids)}${again}`);
      });
      return { replayed: jobs.length, ids: jobs.map((j) => j.id), failedAgain: failedAgainOf(jobs) };
    });
  });

  app.post('/v1/dlq/purge', requires('dlq.purge', audited('dlq.purge', dlqTarget)), async (req) => {
    const selector = parseRequest(dlqSelectorBody, req.body);
    return ctx.audit.runAtomic(principalOf(req), 'dlq.purge', dlqTarget(req), async (ok) => {
      const purged = await ctx.controlPlane.purgeDlq(selector, (n) => ok(`removed ${n} job(s) from the DLQ`));
      return { purged };
    });
  });
}
