import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { attemptLogPath, logSize, readLog, readLogFrom } from './log-files.js';

/**
 * A remote agent's log server: the control plane reads (and follows) the logs
 * of the attempts this agent ran through it, since they are on this machine's
 * disk (control-plane/remote-logs.ts is the other end; it proxies them to the
 * API's callers). One route:
 *
 *   GET /attempts/:attemptId/log?job=J&number=N[&offset=B][&tail=L][&follow=true]
 *
 * - whole log from byte `offset` (default 0), or its last `tail` lines; the
 *   `x-gpuq-log-end` header says at which byte the answer ends;
 * - `follow=true`: streams from `offset` while this agent runs the attempt,
 *   and ends once its process has gone and the last bytes are sent.
 *
 * Only the control plane may call it: the bearer secret the agent sent with
 * its registration, new for each run of the agent, is required. The file is
 * found from the job id and attempt number (attemptLogPath), integers only, so
 * a request cannot name any other file.
 */

export interface LogServerOptions {
  host: string;
  port: number;
  dataDir: string;
  secret: string;
  /** Whether this agent runs the attempt now (its log may grow). */
  isRunning: (attemptId: number) => boolean;
  log: Logger;
  /** How often a followed log is checked for growth. @default 100 */
  pollMs?: number;
}

export interface LogServer {
  /** The address it listens on, as host:port (an IPv6 host in brackets). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

const ROUTE = /^\/attempts\/([1-9][0-9]{0,14})\/log$/;
const INT = /^(0|[1-9][0-9]{0,14})$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startLogServer(o: LogServerOptions): Promise<LogServer> {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  const expected = digest(`Bearer ${o.secret}`);
  const pollMs = o.pollMs ?? 100;
  const open = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    serve(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) o.log.error({ err }, 'log server request failed');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(err instanceof HttpError ? `${err.message}\n` : '');
    });
  });

  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // Compared as digests: equal lengths for timingSafeEqual, and no timing hint of the secret.
    if (!timingSafeEqual(digest(req.headers.authorization ?? ''), expected)) throw new HttpError(401, 'this is a gpuq agent\'s log server: only its control plane may read it');
    const url = new URL(req.url ?? '/', 'http://agent');
    const m = ROUTE.exec(url.pathname);
    if (req.method !== 'GET' || !m) throw new HttpError(404, 'no such route: GET /attempts/:attemptId/log?job=J&number=N');
    const param = (name: string): number | undefined => {
      const v = url.searchParams.get(name);
      if (v === null) return undefined;
      if (!INT.test(v)) throw new HttpError(400, `${name} must be a non-negative integer`);
      return Number(v);
    };
    const attemptId = Number(m[1]);
    const job = param('job');
    const number = param('number');
    if (job === undefined || number === undefined || job === 0 || number === 0) throw new HttpError(400, 'job and number (the attempt\'s job id and attempt number) are required');
    const offset = param('offset') ?? 0;
    const tail = param('tail');
    const path = attemptLogPath(o.dataDir, job, number);
    const closed = (): boolean => res.destroyed || res.writableEnded;

    if (tail !== undefined) {
      const { text, end } = await readLog(path, tail);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-gpuq-log-end': String(end) });
      res.end(text);
      return;
    }
    const follow = url.searchParams.get('follow') === 'true';
    if (!follow) {
      // Up to the size now: what the job writes meanwhile is for the next read.
      const end = Math.max(offset, (await logSize(path)) ?? 0);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-gpuq-log-end': String(end) });
      for (let at = offset; at < end && !closed(); ) {
        const chunk = await readLogFrom(path, at);
        if (chunk.length === 0) break;
        const part = chunk.subarray(0, end - at);
        at += part.length;
        if (!res.write(part)) await drained(res);
      }
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    let at = offset;
    // Whether the attempt runs is read before each read, so the read after it stopped running takes everything it wrote.
    for (let running = o.isRunning(attemptId); !closed(); running = o.isRunning(attemptId)) {
      const chunk = await readLogFrom(path, at);
      if (chunk.length > 0) {
        at += chunk.length;
        if (!res.write(chunk)) await drained(res);
        continue;
      }
      if (!running) break;
      await delay(pollMs);
    }
    res.end();
  }

  server.listen(o.port, o.host);
  await once(server, 'listening');
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    address: { host: o.host, port },
    async close() {
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      // Followed logs would hold the server open until their attempts end.
      for (const res of open) res.destroy();
      server.closeIdleConnections();
      await done;
    },
  };
}

/** Resolves when the response can take more, or has closed (a reader that went away never drains). */
function drained(res: http.ServerResponse): Promise<unknown> {
  return Promise.race([once(res, 'drain'), once(res, 'close')]);
}
