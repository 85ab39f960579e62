import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { ControlPlaneRefusedError, ControlPlaneUnreachableError, HttpReplicaLink, type HttpReplicaLinkOptions } from './host-link.js';

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: unknown;
}
type Handler = (seen: Seen, res: ServerResponse) => void;

const servers: Server[] = [];

/** A real HTTP server answering with `handler`; returns its base URL and what it was sent. */
async function serve(handler: Handler): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const s = { method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization, body: text ? JSON.parse(text) : undefined };
      seen.push(s);
      handler(s, res);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

/** A URL nobody listens on. */
async function closedUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function link(urls: string[], o: Partial<HttpReplicaLinkOptions> = {}): HttpReplicaLink {
  return new HttpReplicaLink({ urls, credential: 'cred-abc', pool: 'embed', jobId: 42, attemptId: 7, clock: systemClock, backoff: { initialMs: 10, maxMs: 50 }, ...o });
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

describe('HttpReplicaLink', () => {
  it('posts ready, exchange and end to the replica endpoints with the credential', async () => {
    const cp = await serve((s, res) => (s.url.endsWith('/exchange') ? json(res, 200, { tasks: [{ id: 5, attempt: 1, payload: { x: 1 } }], stop: false }) : json(res, 200, { ok: true })));
    const l = link([cp.url]);
    expect(await l.ready()).toBe('ok');
    expect(await l.exchange({ results: [{ taskId: 4, attempt: 2, result: { y: 1 } }], held: [3], want: 3, waitMs: 0 })).toEqual({ tasks: [{ id: 5, attempt: 1, payload: { x: 1 } }], stop: false });
    await l.end('crashed', 'the worker exited with code 1');
    expect(cp.seen).toEqual([
      { method: 'POST', url: '/v1/pools/embed/replicas/42/ready', auth: 'Bearer cred-abc', body: { attemptId: 7 } },
      { method: 'POST', url: '/v1/pools/embed/replicas/42/exchange', auth: 'Bearer cred-abc', body: { attemptId: 7, results: [{ taskId: 4, attempt: 2, result: { y: 1 } }], held: [3], want: 3, waitMs: 0 } },
      { method: 'POST', url: '/v1/pools/embed/replicas/42/end', auth: 'Bearer cred-abc', body: { attemptId: 7, reason: 'crashed', detail: 'the worker exited with code 1' } },
    ]);
  });

  it('fails over to the next URL when one cannot be reached, and stays there', async () => {
    const cp = await serve((_s, res) => json(res, 200, { ok: true }));
    const logs: string[] = [];
    const l = link([await closedUrl(), cp.url], { log: (line) => logs.push(line) });
    expect(await l.ready()).toBe('ok');
    expect(await l.ready()).toBe('ok');
    expect(cp.seen).toHaveLength(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^ready to http:\/\/127\.0\.0\.1:\d+ failed \(.*ECONNREFUSED.*\); trying http/);
  });

  it('retries a 503 and resends the same results', async () => {
    let calls = 0;
    const cp = await serve((_s, res) => (++calls < 3 ? json(res, 503, { error: { code: 'STORE_UNAVAILABLE', message: 'try later' } }) : json(res, 200, { tasks: [], stop: true })));
    const l = link([cp.url]);
    const results = [{ taskId: 1, attempt: 1, error: 'no', retryable: false }];
    expect(await l.exchange({ results, held: [2], want: 0, waitMs: 0 })).toEqual({ tasks: [], stop: true });
    expect(cp.seen.map((s) => s.body)).toEqual(Array(3).fill({ attemptId: 7, results, held: [2], want: 0, waitMs: 0 }));
  });

  it('when an answer is lost with its connection, asks again with the same body: what the host held when it asked', async () => {
    let calls = 0;
    const handed = { tasks: [{ id: 9, attempt: 1, payload: null }], stop: false };
    // The first answer is lost after the server acted on the request (a server killed while answering, a dropped connection).
    const cp = await serve((_s, res) => (++calls === 1 ? res.socket!.destroy() : json(res, 200, handed)));
    const logs: string[] = [];
    const l = link([cp.url], { log: (line) => logs.push(line) });
    expect(await l.exchange({ results: [], held: [4, 5], want: 1, waitMs: 0 })).toEqual(handed);
    expect(cp.seen.map((s) => s.body)).toEqual(Array(2).fill({ attemptId: 7, results: [], held: [4, 5], want: 1, waitMs: 0 }));
    expect(logs).toHaveLength(1);
  });

  it('answers gone on 410 REPLICA_GONE', async () => {
    const cp = await serve((_s, res) => json(res, 410, { error: { code: 'REPLICA_GONE', message: 'replica 42: evicted' } }));
    const l = link([cp.url]);
    expect(await l.ready()).toBe('gone');
    expect(await l.exchange({ results: [], held: [], want: 1, waitMs: 0 })).toBe('gone');
  });

  it('rejects a refusal (4xx) at once, with its code', async () => {
    const cp = await serve((_s, res) => json(res, 400, { error: { code: 'VALIDATION_FAILED', message: 'want: too big' } }));
    const err = await link([cp.url]).exchange({ results: [], held: [], want: 5000, waitMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlPlaneRefusedError);
    expect(err).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(cp.seen).toHaveLength(1);
  });

  it('gives up after its retry window when no server answers', async () => {
    const l = link([await closedUrl(), await closedUrl()], { retryForMs: 200 });
    const t0 = performance.now();
    await expect(l.ready()).rejects.toThrow(ControlPlaneUnreachableError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(200);
  });

  it('a long-poll is cut short by its signal', async () => {
    const cp = await serve(() => {}); // never answers
    const abort = new AbortController();
    const pending = link([cp.url]).exchange({ results: [], held: [], want: 1, waitMs: 25_000 }, abort.signal);
    while (cp.seen.length === 0) await new Promise((r) => setImmediate(r));
    abort.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses an exchange answer it cannot read', async () => {
    const cp = await serve((_s, res) => json(res, 200, { tasks: [{ id: 'x' }], stop: false }));
    await expect(link([cp.url]).exchange({ results: [], held: [], want: 1, waitMs: 0 })).rejects.toThrow(/exchange answer is not one the host understands/);
  });
});
