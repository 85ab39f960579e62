import { open, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { GpuqError } from '../../core/errors.js';
import type { Attempt } from '../../core/types.js';
import type { ServerContext } from '../server-context.js';
import { jobIdParams, logsQuery, parseRequest } from '../request-schemas.js';

const FOLLOW_POLL_MS = 100;
const TAIL_WINDOW_BYTES = 8 * 1024 * 1024;

/** Logs of an attempt (the latest by default): whole, the last N lines, or followed as a stream until the attempt ends. */
export function logRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/jobs/:id/logs', async (req, reply) => {
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
      return a.logPath ? await readLog(a.logPath, q.tail) : '';
    }
    let closed = false;
    req.raw.on('close', () => (closed = true));
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
      let offset = 0;
      if (a.logPath && q.tail !== undefined) {
        const initial = await readLog(a.logPath, q.tail);
        offset = (await fileSize(a.logPath)) ?? 0;
        yield initial;
      }
      for (;;) {
        if (closed) return;
        const cur = await ctx.store.getAttempt(a.id);
        const path = cur?.logPath ?? a.logPath;
        if (path) {
          const chunk = await readFrom(path, offset);
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

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

async function readFrom(path: string, offset: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The whole log, or its last `tail` lines (looking at most at its last 8 MiB). */
async function readLog(path: string, tail: number | undefined): Promise<string> {
  const size = await fileSize(path);
  if (size === null) return '';
  const start = tail === undefined ? 0 : Math.max(0, size - TAIL_WINDOW_BYTES);
  const chunks: Buffer[] = [];
  let offset = start;
  for (;;) {
    const c = await readFrom(path, offset);
    if (c.length === 0) break;
    chunks.push(c);
    offset += c.length;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (tail === undefined) return text;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(Math.max(0, lines.length - tail)).map((l) => `${l}\n`).join('');
}
