#!/usr/bin/env node
// Broker intake benchmark (ADR 0017): messages/s from a Redis stream and from a NATS JetStream stream into durable
// jobs on the embedded SQLite store. Run: npm run bench:intake (Redis on 127.0.0.1:6379 and NATS with JetStream on
// 127.0.0.1:4222, as .ci/run starts them; GPUQ_TEST_REDIS_URL / GPUQ_TEST_NATS_SERVER point elsewhere).
//
// Each run: a real `gpuq up --no-agent --intake-config FILE` (jobs are stored, not run: intake alone is measured) with the source paused (emergency stop), N noop job
// specs put on the broker, then resume; timed from the resume until the N jobs exist and nothing is left pending.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { api, printTable, record, startGpuq } from './lib.mjs';

const N = Number(process.env.BENCH_INTAKE_N ?? 50_000);
const REDIS_URL = process.env.GPUQ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const NATS = process.env.GPUQ_TEST_NATS_SERVER ?? '127.0.0.1:4222';
const BODY = '{"type":"noop"}';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function configFile(config) {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'gpuq-bench-intake-')), 'intake.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

async function timed(g, drained) {
  await api(g.url, 'POST', '/v1/intake/resume', { all: true });
  const t0 = performance.now();
  for (;;) {
    if ((await api(g.url, 'GET', '/v1/jobs/counts')).total >= N && (await drained())) break;
    await sleep(10);
  }
  return (performance.now() - t0) / 1000;
}

async function paused(g) {
  await api(g.url, 'POST', '/v1/intake/pause', { all: true });
}

async function redisRun() {
  const redis = new Redis(REDIS_URL);
  const stream = `gpuq-bench-${randomUUID().slice(0, 8)}`;
  const g = await startGpuq(['--no-agent', '--intake-config', configFile({ sources: [{ name: 'bench', kind: 'redis', url: REDIS_URL, stream, batchSize: 1000 }] })]);
  try {
    await paused(g);
    for (let i = 0; i < N; i += 5000) {
      const p = redis.pipeline();
      for (let k = 0; k < Math.min(5000, N - i); k++) p.xadd(stream, '*', 'job', BODY);
      await p.exec();
    }
    const seconds = await timed(g, async () => Number((await redis.xpending(stream, 'gpuq'))[0]) === 0);
    return seconds;
  } finally {
    await g.stop();
    await redis.del(stream, `${stream}.dead`);
    redis.disconnect();
  }
}

async function natsRun() {
  const nc = await connect({ servers: NATS });
  const jsm = await nc.jetstreamManager();
  const name = `gpuqbench_${randomUUID().slice(0, 8)}`;
  await jsm.streams.add({ name, subjects: [`${name}.in`] });
  const g = await startGpuq(['--no-agent', '--intake-config', configFile({ sources: [{ name: 'bench', kind: 'nats', servers: [NATS], stream: name, batchSize: 1000 }] })]);
  try {
    await paused(g);
    const js = nc.jetstream();
    for (let i = 0; i < N; i += 1000) await Promise.all(Array.from({ length: Math.min(1000, N - i) }, () => js.publish(`${name}.in`, BODY)));
    return await timed(g, async () => {
      const info = await jsm.consumers.info(name, 'gpuq');
      return info.num_ack_pending === 0 && info.num_pending === 0;
    });
  } finally {
    await g.stop();
    await jsm.streams.delete(name).catch(() => {});
    await nc.close();
  }
}

const rows = [];
const results = {};
for (const [broker, run] of [['Redis Streams (consumer group, XREADGROUP/XACK)', redisRun], ['NATS JetStream (durable pull consumer)', natsRun]]) {
  const seconds = await run();
  const rate = Math.round(N / seconds);
  results[broker] = { messages: N, seconds, perSecond: rate };
  rows.push({ benchmark: `${N} noop job specs from ${broker} into durable queued jobs (SQLite, --no-agent: stored, not run), batches of 1000`, result: `${rate} messages/s (${seconds.toFixed(2)} s)`, target: '≥ 10,000/s' });
}
const table = printTable(rows);
record('intake', 'npm run bench:intake', table, results);
