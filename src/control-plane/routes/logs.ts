import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { readLog, readLogFrom } from '../../agent/log-files.js';
import { GpuqError } from '../../core/errors.js';
import type { Attempt } from '../../core/types.js';
import { requires } from '../auth.js';
import { followFeed } from '../feed-follow.js';
import { followRemoteLog, readRemoteLog } from '../remote-logs.js';
import type { ServerContext } from '../server-context.js';
import { jobIdParams, logsQuery, parseRequest } from '../request-schemas.js';

/** How often a followed log file is read while it is quiet. */
const FOLLOW_POLL_MS = 100;
/** How long a follower waiting for a job's attempt waits for an event before looking again. */
const EVENT_WAIT_MS = 1000;

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
    // The job's changes come from the event feed, not from reading the job again and again: `changes` counts
    // the job.state events of this job seen so far, and `changed()` waits for the next one.
    let changes = 0;
    let jobEnded = false;
    const waiting: { wake: (() => void) | null } = { wake: null };
    const changed = (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          waiting.wake = null;
          resolve();
        }
        waiting.wake = done;
      });
    // Read before the job and its attempts are, so a change after those reads is an event after this head.
    const { headId } = await ctx.store.readFeed(null, {}, 1);
    const feed = (async () => {
      for await (const batch of followFeed(ctx.store, ctx.feed, headId, { types: ['job.state'], jobId: id }, gone.signal)) {
        changes += batch.length;
        const last = batch[batch.length - 1];
        jobEnded = last?.type === 'job.state' && (last.to === 'succeeded' || last.to === 'failed' || last.to === 'cancelled');
        waiting.wake?.();
      }
    })();
    feed.catch((err: unknown) => req.log.warn({ err }, 'following the job\'s events failed'));
    const jobDone = async () => {
      const j = await ctx.store.getJob(id);
      return !j || j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled';
    };
    async function* follow(): AsyncGenerator<Buffer | string> {
      try {
        yield* followAttemptLog();
      } finally {
        gone.abort();
      }
    }
    async function* followAttemptLog(): AsyncGenerator<Buffer | string> {
      // Wait for an attempt to exist (a queued job has none yet): it comes with the job's next event.
      let a = await pick();
      while (!a && !closed) {
        if (await jobDone()) return;
        await changed(EVENT_WAIT_MS);
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
      // The file is read as it grows (every FOLLOW_POLL_MS while quiet); the attempt is read again when the job
      // changed, and once its end is recorded the rest of the file is read and the stream ends. A cancelled job's
      // attempt ends after its event (once its processes are gone), with no event of its own: after the job's
      // end, and at least every EVENT_WAIT_MS, the attempt is read again while the file is quiet.
      let cur: Attempt | null = a;
      let seen = changes;
      let readAt = Date.now();
      for (;;) {
        if (closed) return;
        const quietFor = Date.now() - readAt;
        if (changes !== seen || (jobEnded && quietFor >= FOLLOW_POLL_MS) || quietFor >= EVENT_WAIT_MS) {
          seen = changes;
          readAt = Date.now();
          cur = await ctx.store.getAttempt(a.id);
        }
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
        await changed(FOLLOW_POLL_MS);
      }
    }
    return reply.send(Readable.from(follow()));
  });
}
