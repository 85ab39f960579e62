import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import { pipeline } from 'node:stream/promises';
import { artifactNameProblem } from '../core/job-output.js';
import { attemptArtifactsDir, openArtifact } from './attempt-output.js';
import { attemptLogPath, logSize, readLog, readLogFrom } from './log-files.js';

/**
 * A remote agent's log server: the control plane reads (and follows) the logs
 * and artifacts of the attempts this agent ran through it, since they are on
 * this machine's disk (control-plane/remote-logs.ts is the other end; it proxies
 * them to the API's callers). Two routes:
 *
 *   GET /attempts/:attemptId/log?job=J&number=N[&offset=B][&tail=L][&follow=true]
 *   GET /attempts/:attemptId/artifact?job=J&number=N&name=NAME
 *
 * - whole log from byte `offset` (default 0), or its last `tail` lines; the
 *   `x-gpuq-log-end` header says at which byte the answer ends;
 * - `follow=true`: streams from `offset` while this agent runs the attempt,
 *   and ends once its process has gone and the last bytes are sent.
 * - an artifact: the file `name` (a relative path, core/job-output.ts) of the
 *   attempt's artifacts directory, 400 for a name that could leave it, 404 when
 *   there is no regular file by that name inside it (attempt-output.ts).
 *
 * Only the control plane may call it: the bearer secret the agent sent with
 * its registration, new for each run of the agent, is required. A log is
 * found from the job id and attempt number (attemptLogPath), integers only, and
 * an artifact within that attempt's artifacts directory only, so a request
 * cannot name any other file.
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

const ROUTE = /^\/attempts\/([1-9][0-9]{0,14})\/(log|artifact)$/;
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
    if (req.method !== 'GET' || !m) throw new HttpError(404, 'no such route: GET /attempts/:attemptId/log?job=J&number=N, or /attempts/:attemptId/artifact?job=J&number=N&name=NAME');
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
    if (m[2] === 'artifact') return serveArtifact(url, job, number, res);
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

  async function serveArtifact(url: URL, job: number, number: number, res: http.ServerResponse): Promise<void> {
    const name = url.searchParams.get('name') ?? '';
    const problem = artifactNameProblem(name);
    if (problem !== null) throw new HttpError(400, `name ${problem}`);
    const file = await openArtifact(attemptArtifactsDir(o.dataDir, job, number), name);
    if (file === null) throw new HttpError(404, `no artifact "${name}" of job ${job} attempt ${number} here`);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.bytes) });
    // A reader that goes away ends the pipeline; the file is closed either way.
    await pipeline(file.stream, res).catch(() => {});
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
