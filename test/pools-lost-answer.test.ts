import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GpuqClient } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, leakedServers, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { MODEL_WORKER } from './helpers/pools.js';
import { TestSchemas } from './helpers/postgres.js';

// A lost exchange answer, with real processes: a `gpuq up --no-agent` server on PostgreSQL and a `gpuq agent` that
// reaches it through an HTTP proxy in this test. The replica host the agent starts talks to the control plane through
// the same proxy (it is given the agent's URLs), so the proxy can let the server claim tasks for the replica and then
// drop the connection instead of delivering the answer: what a server killed -9 while answering, or a dropped
// connection, does. The tasks must then run at once, not after their task timeout (300 s by default).
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
const agents: AgentProcess[] = [];
const proxies: Server[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const s of servers.splice(0)) await s.stop();
  for (const p of proxies.splice(0)) {
    p.closeAllConnections();
    await new Promise<void>((r) => p.close(() => r()));
  }
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

interface ExchangeSeen {
  body: { results: unknown[]; held: number[]; want: number; waitMs: number };
  answer: { tasks: { id: number; attempt: number }[]; stop: boolean } | null;
  dropped: boolean;
}

/**
 * An HTTP proxy to `target` that passes everything through, and records each exchange of a replica host. While
 * `dropNext` is set, the first exchange answer that hands out tasks is not delivered: the client's connection is
 * destroyed once the server has answered (so the server did claim them).
 */
async function lossyProxy(target: string) {
  const exchanges: ExchangeSeen[] = [];
  const state = { dropNext: false };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const exchange = req.method === 'POST' && /^\/v1\/pools\/[^/]+\/replicas\/\d+\/exchange$/.test(req.url ?? '');
      const up = request(new URL(req.url ?? '/', target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (upRes) => {
        const parts: Buffer[] = [];
        upRes.on('data', (c: Buffer) => parts.push(c));
        upRes.on('end', () => {
          const text = Buffer.concat(parts);
          if (exchange) {
            const answer = upRes.statusCode === 200 ? (JSON.parse(text.toString()) as ExchangeSeen['answer']) : null;
            const drop = state.dropNext && answer !== null && answer.tasks.length > 0;
            exchanges.push({ body: JSON.parse(body.toString()) as ExchangeSeen['body'], answer, dropped: drop });
            if (drop) {
              state.dropNext = false;
              res.socket?.destroy();
              return;
            }
          }
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          res.end(text);
        });
      });
      up.on('error', () => res.socket?.destroy());
      up.end(body);
    });
  });
  proxies.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exchanges, state };
}

describe('a lost exchange answer', () => {
  it('the tasks it carried are handed back to the replica at once, at the same attempt, and answered once', async () => {
    const { url: db } = await schemas.createForServer();
    const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
    const server = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required'] });
    servers.push(server);
    const proxy = await lossyProxy(server.url);
    agents.push(await startAgent({ server: proxy.url, token: agentToken, node: 'gpu-a' }));
    const client = new GpuqClient(server.url, { token: admin });

    // The default task timeout: without the hand-back, the lost tasks would wait 300 s for their redelivery.
    await client.createPool({ name: 'lossy', command: [process.execPath, MODEL_WORKER], gpus: 1, minReplicas: 1, maxReplicas: 1, concurrency: 2 });
    expect((await client.getPool('lossy')).pool.spec.taskTimeoutSeconds).toBe(300);
    await until('a ready replica', async () => (await client.getPool('lossy')).pool.replicas.some((r) => r.state === 'ready'), 60_000, 100);

    proxy.state.dropNext = true;
    const xs = [3, 4, 5];
    const t0 = Date.now();
    const { tasks } = await client.submitTasks('lossy', xs.map((x) => ({ payload: { op: 'square', x } })), { wait: 60 });
    const elapsed = Date.now() - t0;

    const dropped = proxy.exchanges.filter((e) => e.dropped);
    expect(dropped).toHaveLength(1);
    const lost = dropped[0]!.answer!.tasks;
    expect(lost.length).toBeGreaterThan(0);
    // The host asked again with the same body (it held nothing), and got the lost tasks back first, as they were.
    const retry = proxy.exchanges[proxy.exchanges.indexOf(dropped[0]!) + 1]!;
    expect(retry.body).toEqual(dropped[0]!.body);
    expect(retry.body.held).toEqual([]);
    expect(retry.answer!.tasks.slice(0, lost.length).map((t) => [t.id, t.attempt])).toEqual(lost.map((t) => [t.id, t.attempt]));

    // Every task answered once, at its first delivery, well before the task timeout.
    expect(tasks.map((t) => t.state)).toEqual(xs.map(() => 'succeeded'));
    expect(tasks.map((t) => (t.result as { y: number }).y)).toEqual(xs.map((x) => x * x));
    expect(tasks.map((t) => [t.attempts, t.history])).toEqual(xs.map(() => [1, []]));
    expect(elapsed).toBeLessThan(30_000);
  }, 120_000);
});
