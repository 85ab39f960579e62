import type { FastifyInstance, FastifyReply } from 'fastify';
import { feedResume, type FeedEvent, type FeedFilter } from '../../core/feed-events.js';
import { ValidationError } from '../../core/errors.js';
import { requires } from '../auth.js';
import { followFeed } from '../feed-follow.js';
import type { ServerContext } from '../server-context.js';
import { eventsQuery, feedEventId, parseRequest } from '../request-schemas.js';

/** A comment line this often keeps proxies and clients from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
/** What EventSource clients wait before reconnecting (the `retry:` field). */
const RECONNECT_MS = 1000;

/**
 * The event feed (core/feed-events.ts): `GET /v1/events` as server-sent events, followed as events commit on
 * any replica, resumed after `Last-Event-ID` (or `after`); with `follow=false`, one JSON page. Filters by type,
 * job and queue. Every replica serves it from the shared store.
 */
export function eventRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // Streams never end by themselves: a closing server ends them, or its close would wait for them forever.
  const closing = new AbortController();
  app.addHook('preClose', (done) => {
    closing.abort();
    done();
  });
  app.get('/v1/events', requires('jobs.read'), async (req, reply) => {
    const q = parseRequest(eventsQuery, req.query);
    const header = req.headers['last-event-id'];
    const lastEventId = header === undefined ? undefined : parseRequest(feedEventId, Array.isArray(header) ? header[0] : header, ['Last-Event-ID']);
    // The header is what a reconnecting EventSource sends: it is newer than an `after` left in the URL.
    const after = lastEventId ?? q.after;
    const filter: FeedFilter = { types: q.types, jobId: q.job, queue: q.queue };
    // Followed, only the head and the retention mark are needed here: the stream reads the events itself.
    const first = await ctx.store.readFeed(after ?? null, filter, q.follow ? 1 : q.limit);
    if (after !== undefined && after > first.headId) {
      const param = lastEventId !== undefined ? 'Last-Event-ID' : 'after';
      throw new ValidationError([{ path: param, message: `event ${after} does not exist yet (the newest is ${first.headId}): an id from another gpuq installation? Start again without it` }]);
    }
    const resume = after === undefined ? null : feedResume(after, first.purgedThrough);

    if (!q.follow) {
      // Retention removed everything up to purgedThrough, so the page already starts at the oldest kept event; `resync` says so.
      const lastEventId = first.events.length === q.limit ? first.events[first.events.length - 1]!.id : first.headId;
      return { events: first.events, lastEventId, ...(resume?.resync ? { resync: { reason: resume.reason, oldestId: resume.after + 1 } } : {}) };
    }

    const left = new AbortController();
    reply.raw.on('close', () => left.abort());
    const gone = { signal: AbortSignal.any([left.signal, closing.signal]) };
    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const keepalive = setInterval(() => out.write(': ping\n\n'), KEEPALIVE_MS);
    ctx.metrics.eventStreams.inc();
    try {
      // Without a place to resume from, the stream starts at the head: only what happens from now on. The first
      // block says where that is (an id without data moves a client's Last-Event-ID and is no event), so a client
      // that reconnects before any event came resumes there, not at a later head.
      const from = resume?.after ?? first.headId;
      await write(out, `retry: ${RECONNECT_MS}\nid: ${from}\n\n`);
      if (resume?.resync) await write(out, `event: resync\ndata: ${JSON.stringify({ reason: resume.reason, oldestId: resume.after + 1 })}\n\n`);
      for await (const batch of followFeed(ctx.store, ctx.feed, from, filter, gone.signal)) {
        if (!(await write(out, batch.map(frame).join('')))) break;
      }
    } catch (err) {
      if (!gone.signal.aborted) req.log.warn({ err }, 'event stream ended by an error');
    } finally {
      ctx.metrics.eventStreams.dec();
      clearInterval(keepalive);
      out.end();
    }
  });
}

function frame(e: FeedEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

/** Writes, waiting for the socket to drain when its buffer is full; false when the client has gone. */
function write(out: FastifyReply['raw'], text: string): Promise<boolean> {
  if (out.destroyed) return Promise.resolve(false);
  if (out.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    out.once('drain', onDrain);
    out.once('close', onClose);
  });
}
