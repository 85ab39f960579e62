import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { readLog, readLogFrom } from '../../agent/log-files.js';
import { GpuqError } from '../../core/errors.js';
import type { Attempt } from '../../core/types.js';
import { requires } from '../auth.js';
import { followRemoteLog, readRemoteLog } from '../remote-logs.js';
import type { ServerContext } from '../server-context.js';
import { jobIdParams, logsQuery, parseRequest } from '../request-schemas.js';

const FOLLOW_POLL_MS = 100;

/**
 * Logs of an attempt (the latest by default): whole, the last N lines, or followed as a stream until the attempt ends.
 * An attempt run by a remote agent (its node registered a log endpoint) is read through that agent (remote-logs.ts);
 * any other from this server's disk.
 */
export function logRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/jobs/:id/logs', requires('jobs.read'), async (req, reply) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const q = parseRequest(logsQuery, req.query);
    await ctx.controlPlane.getJob(id);
    const pick = async (): Promise<Attempt | null> => {
      const attempts = await ctx.store.listAttempts(id);
      if (q.attempt !== undefined) {
        const a = attempts.find((x) => x.number === q.attempt);
        if (!a) throw new GpuqError('NOT_FOUND', `job ${id} has no attempt ${q.attempt} (it has ${attempts.length})`);
        return a;
      }
      return attempts.at(-1) ?? null;
    };
    reply.type('text/plain; charset=utf-8');
    if (!q.follow) {
      const a = await pick();
      if (!a) throw new GpuqError('NOT_FOUND', `job ${id} has not started yet: no log (use follow=true to wait for it)`);
      reply.header('x-gpuq-attempt', String(a.number));
      // No log path: the attempt has not started, so there is no log anywhere yet.
      if (!a.logPath) return '';
      const endpoint = await ctx.store.getNodeLogEndpoint(a.nodeId);
      return (endpoint ? await readRemoteLog(endpoint, a, q.tail) : await readLog(a.logPath, q.tail)).text;
    }
    let closed = false;
    const gone = new AbortController();
    req.raw.on('close', () => {
      closed = true;
      gone.abort();
    });
    const jobDone = async () => {
      const j = await ctx.store.getJob(id);
      return !j || j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled';
    };
    async function* follow(): AsyncGenerator<Buffer | string> {
      // Wait for an attempt to exist (a queued job has none yet).
      let a = await pick();
      while (!a && !closed) {
        if (await jobDone()) return;
        await delay(FOLLOW_POLL_MS);
        a = await pick();
      }
      if (!a) return;
      const picked = a;
      const endpoint = await ctx.store.getNodeLogEndpoint(a.nodeId);
      if (endpoint) {
        const initial = q.tail !== undefined && a.logPath ? await readRemoteLog(endpoint, a, q.tail) : { text: '', end: 0 };
        if (initial.text !== '') yield initial.text;
        yield* followRemoteLog(a, initial.end, {
          signal: gone.signal,
          ended: async () => {
            const cur = await ctx.store.getAttempt(picked.id);
            return !cur || cur.endedAt !== null;
          },
          endpoint: () => ctx.store.getNodeLogEndpoint(picked.nodeId),
          retryMs: FOLLOW_POLL_MS,
        });
        return;
      }
      let offset = 0;
      if (a.logPath && q.tail !== undefined) {
        const initial = await readLog(a.logPath, q.tail);
        offset = initial.end;
        yield initial.text;
      }
      for (;;) {
        if (closed) return;
        const cur = await ctx.store.getAttempt(a.id);
        const path = cur?.logPath ?? a.logPath;
        if (path) {
          const chunk = await readLogFrom(path, offset);
          if (chunk.length > 0) {
            offset += chunk.length;
            yield chunk;
            continue;
          }
        }
        if (!cur || cur.endedAt !== null) return;
        await delay(FOLLOW_POLL_MS);
      }
    }
    return reply.send(Readable.from(follow()));
  });
}
