import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type JetStreamManager, type NatsConnection } from 'nats';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * Broker intake from NATS JetStream (ADR 0017) against the real nats-server at 127.0.0.1:4222 with JetStream (.ci/run
 * starts it): a real `gpuq up` killed -9 twice during intake. Each run makes its own streams and removes them.
 */
const NATS = process.env.GPUQ_TEST_NATS_SERVER ?? '127.0.0.1:4222';
const N = 10_000;

let nc: NatsConnection;
let jsm: JetStreamManager;
const made: string[] = [];
const servers: GpuqProcess[] = [];

beforeAll(async () => {
  nc = await connect({ servers: NATS });
  jsm = await nc.jetstreamManager();
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  for (const s of made) await jsm.streams.delete(s).catch(() => {});
  await nc.close();
});

describe('intake from NATS JetStream', () => {
  it('makes exactly one job per message through two kill -9s, acks everything, dead-letters the malformed, publishes every final state', async () => {
    const base = `gpuqtest_${randomUUID().slice(0, 8)}`;
    const subject = `${base}.in`;
    for (const [name, subjects] of [[`${base}_IN`, [subject]], [`${base}_DEAD`, [`${base}.dead`]], [`${base}_DONE`, [`${base}.done`]]] as const) {
      await jsm.streams.add({ name, subjects: [...subjects] });
      made.push(name);
    }
    const file = path.join(tempDir(), 'intake.yaml');
    writeFileSync(file, [
      'sources:',
      `  - { name: batch, kind: nats, servers: ["${NATS}"], stream: ${base}_IN, consumer: gpuq, deadLetterSubject: ${base}.dead, ackWaitMs: 2000 }`,
      'sinks:',
      `  - { name: done, kind: nats, servers: ["${NATS}"], subject: ${base}.done }`,
      '',
    ].join('\n'));
    const js = nc.jetstream();
    await js.publish(subject, 'not json');
    await js.publish(subject, '{"type":"noop","bogus":true}');
    const producing = (async () => {
      for (let i = 0; i < N; i += 500) await Promise.all(Array.from({ length: Math.min(500, N - i) }, () => js.publish(subject, '{"type":"noop"}')));
    })();
    const start = async (dataDir?: string) => {
      const s = await startGpuq({ dataDir, fakeGpus: 1, args: ['--intake-config', file] });
      servers.push(s);
      return s;
    };
    let gpuq = await start();
    const dataDir = gpuq.dataDir;
    for (const at of [2000, 6000]) {
      await until(`${at} jobs`, async () => (await gpuq.client.jobCounts()).total >= at, 60_000, 5);
      await gpuq.crash();
      servers.splice(servers.indexOf(gpuq), 1);
      gpuq = await start(dataDir);
    }
    await producing;
    let last = '';
    await until('every message stored and acked', async () => {
      const info = await jsm.consumers.info(`${base}_IN`, 'gpuq');
      const total = (await gpuq.client.jobCounts()).total;
      last = `jobs ${total}, ack pending ${info.num_ack_pending}, pending ${info.num_pending}; server log: ${gpuq.stderr().slice(-2000)}`;
      return total >= N && info.num_ack_pending === 0 && info.num_pending === 0;
    }, 120_000, 100).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${last}`);
    });
    expect((await gpuq.client.jobCounts()).total).toBe(N);

    // Dead letters with their reason (a header), terminated: never delivered again.
    const deadInfo = await jsm.streams.info(`${base}_DEAD`);
    expect(deadInfo.state.messages).toBe(2);
    const reasons: string[] = [];
    for (const seq of [1, 2]) {
      const m = await jsm.streams.getMessage(`${base}_DEAD`, { seq });
      reasons.push(`${m.header.get('Gpuq-Dead-Letter-Reason')} | ${m.string()}`);
    }
    expect(reasons.find((r) => r.endsWith('| not json'))).toMatch(/^malformed: not JSON/);
    expect(reasons.find((r) => r.includes('bogus'))).toMatch(/^invalid job spec: .*unknown field\(s\) "bogus"/);

    // Every final state on the sink subject (at least once; the stream drops republishes by message id).
    await until('every final state published', async () => (await jsm.streams.info(`${base}_DONE`)).state.messages >= N, 120_000, 250);
    const ids = new Set<number>();
    const c = await js.consumers.get(`${base}_DONE`);
    for (let got = 0; ids.size < N; ) {
      const batch = await c.fetch({ max_messages: 1000, expires: 2000 });
      let seen = 0;
      for await (const m of batch) {
        seen++;
        const body = m.json<{ jobId: number; state: string; source: string }>();
        expect(body).toMatchObject({ state: 'succeeded', source: 'batch' });
        ids.add(body.jobId);
      }
      got += seen;
      if (seen === 0) break;
    }
    expect(ids.size).toBe(N);
  }, 300_000);
});
