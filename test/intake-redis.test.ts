import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * Broker intake from Redis Streams (ADR 0017) against the real Redis at 127.0.0.1:6379 (.ci/run starts it): a real
 * `gpuq up` process, killed -9 during intake, restarted on the same data directory. Each run uses its own stream
 * names, so runs never collide.
 */
const REDIS_URL = process.env.GPUQ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const N = 10_000;

let redis: Redis;
const streams: string[] = [];
const servers: GpuqProcess[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  if (streams.length > 0) await redis.del(...streams);
  redis.disconnect();
});

function names() {
  const base = `gpuq-test-${randomUUID().slice(0, 8)}`;
  const n = { stream: `${base}.in`, dead: `${base}.in.dead`, done: `${base}.done` };
  streams.push(n.stream, n.dead, n.done);
  return n;
}

function intakeConfig(n: ReturnType<typeof names>, extra: Record<string, unknown> = {}): string {
  const file = path.join(tempDir(), 'intake.json');
  writeFileSync(file, JSON.stringify({
    sources: [{ name: 'orders', kind: 'redis', url: REDIS_URL, stream: n.stream, claimIdleMs: 1000, ...extra }],
    sinks: [{ name: 'done', kind: 'redis', url: REDIS_URL, stream: n.done }],
  }));
  return file;
}

async function start(dataDir: string | undefined, config: string): Promise<GpuqProcess> {
  const s = await startGpuq({ dataDir, fakeGpus: 1, args: ['--intake-config', config] });
  servers.push(s);
  return s;
}

async function add(stream: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 1000) {
    const p = redis.pipeline();
    for (const b of bodies.slice(i, i + 1000)) p.xadd(stream, '*', 'job', b);
    await p.exec();
  }
}

const total = async (s: GpuqProcess) => (await s.client.jobCounts()).total;
const pendingCount = async (stream: string) => Number(((await redis.xpending(stream, 'gpuq')) as [number])[0]);

describe('intake from Redis Streams', () => {
  it('makes exactly one job per message through two kill -9s, acks everything, dead-letters the malformed, publishes every final state', async () => {
    const n = names();
    const config = intakeConfig(n);
    // The malformed ones first, so they are surely read before the first crash... and still never retried forever.
    await add(n.stream, ['not json', '{"type":"noop","gpus":-1}']);
    const producing = add(n.stream, Array.from({ length: N }, () => '{"type":"noop"}'));
    let gpuq = await start(undefined, config);
    const dataDir = gpuq.dataDir;
    for (const at of [2000, 6000]) {
      await until(`${at} jobs`, async () => (await total(gpuq)) >= at, 60_000, 5);
      await gpuq.crash();
      servers.splice(servers.indexOf(gpuq), 1);
      gpuq = await start(dataDir, config);
    }
    await producing;
    await until('every message stored and acked', async () => (await total(gpuq)) >= N && (await pendingCount(n.stream)) === 0 && (await redis.xinfo('GROUPS', n.stream) as unknown[][]).length === 1, 120_000, 100);
    const counts = await gpuq.client.jobCounts();
    expect(counts.total).toBe(N);
    expect(await pendingCount(n.stream)).toBe(0);

    // Dead letters: each with its reason and the original fields, acked (not pending), once each.
    const dead = await redis.xrange(n.dead, '-', '+');
    const reasons = dead.map(([, f]) => Object.fromEntries(f.reduce<string[][]>((acc, v, i) => (i % 2 === 0 ? [...acc, [v]] : (acc[acc.length - 1]!.push(v), acc)), [])) as Record<string, string>);
    expect(reasons.map((r) => r.job).sort()).toEqual(['not json', '{"type":"noop","gpus":-1}'].sort());
    expect(reasons.find((r) => r.job === 'not json')?.reason).toMatch(/^malformed: not JSON/);
    expect(reasons.find((r) => r.job !== 'not json')?.reason).toMatch(/^invalid job spec: gpus: /);

    // Every job's final state reaches the sink (at least once: a republish after a crash repeats some).
    await until('every final state published', async () => {
      const ids = new Set<string>();
      for (const [, f] of await redis.xrange(n.done, '-', '+')) if (f[3] === 'succeeded') ids.add(f[1]!);
      return ids.size >= N;
    }, 120_000, 250);
    const published = await redis.xrange(n.done, '-', '+');
    const first = JSON.parse(published[0]![1][7]!) as { jobId: number; state: string; source: string; feedId: number };
    expect(first).toMatchObject({ state: 'succeeded', source: 'orders' });

    const view = await gpuq.client.request<{ sources: { name: string; state: string; deadLettered: number }[] }>('GET', '/v1/intake');
    expect(view.sources[0]).toMatchObject({ name: 'orders', state: 'consuming' });
    const metrics = await (await fetch(`${gpuq.url}/metrics`)).text();
    expect(metrics).toMatch(/^gpuq_intake_messages_received_total\{source="orders"\} \d+/m);
    expect(metrics).toMatch(/^gpuq_intake_pending\{source="orders"\} 0$/m);
  }, 300_000);

  it('emergency stop: nothing is consumed while paused (durably, across a restart), then everything after resume', async () => {
    const n = names();
    const config = intakeConfig(n);
    const gpuq = await start(undefined, config);
    await add(n.stream, ['{"type":"noop"}']);
    await until('the first job', async () => (await total(gpuq)) === 1, 30_000, 10);

    const paused = await runCli(['intake', 'pause', '--all', '--url', gpuq.url, '--json']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(JSON.parse(paused.stdout)).toEqual({ paused: { all: true, sources: [] } });
    // Within a second, a message added is no longer read.
    await new Promise((r) => setTimeout(r, 1000));
    await add(n.stream, Array.from({ length: 50 }, () => '{"type":"noop"}'));
    await new Promise((r) => setTimeout(r, 1500));
    expect(await total(gpuq)).toBe(1);
    const info = (await redis.xinfo('GROUPS', n.stream)) as (string | number)[][];
    const group = Object.fromEntries(info[0]!.reduce<[string, unknown][]>((acc, v, i) => (i % 2 === 0 ? [...acc, [String(v), null]] : ((acc[acc.length - 1]![1] = v), acc)), []));
    expect(group.lag).toBe(50);
    expect(group.pending).toBe(0);

    // The stop is durable: a restart stays stopped.
    await gpuq.stop();
    servers.splice(0);
    const again = await start(gpuq.dataDir, config);
    const ls = await runCli(['intake', 'ls', '--url', again.url]);
    expect(ls.stdout).toMatch(/emergency stop/);
    expect(ls.stdout).toMatch(/orders\tredis\tpaused/);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await total(again)).toBe(1);

    const resumed = await runCli(['intake', 'resume', '--all', '--url', again.url]);
    expect(resumed.code, resumed.stderr).toBe(0);
    await until('the messages added while paused', async () => (await total(again)) === 51, 30_000, 10);
    await until('nothing pending', async () => (await pendingCount(n.stream)) === 0, 10_000, 50);
    const { entries } = await again.client.request<{ entries: { action: string; outcome: string }[] }>('GET', '/v1/audit');
    expect(entries.map((e) => `${e.action} ${e.outcome}`)).toEqual(expect.arrayContaining(['intake.pause ok', 'intake.resume ok']));
  }, 120_000);

  it('drain (maintenance mode) stops intake too; normal resumes it', async () => {
    const n = names();
    const gpuq = await start(undefined, intakeConfig(n));
    await gpuq.client.setMaintenance('drain');
    await new Promise((r) => setTimeout(r, 700));
    await add(n.stream, Array.from({ length: 5 }, () => '{"type":"noop"}'));
    await new Promise((r) => setTimeout(r, 1200));
    expect(await total(gpuq)).toBe(0);
    await gpuq.client.setMaintenance('normal');
    await until('the messages added during drain', async () => (await total(gpuq)) === 5, 30_000, 10);
  }, 60_000);

  it('with `pipeline`, starts one run per message (never two, even when the group reads everything again) and publishes each run\'s end', async () => {
    const n = names();
    const gpuq = await start(undefined, intakeConfig(n, { pipeline: 'score' }));
    const out = path.join(tempDir(), 'out');
    await gpuq.client.createPipeline({ name: 'score', outputDir: out, steps: [{ name: 'score', job: { shell: 'for f in "$GPUQ_STEP_INPUT_DIR"/*; do cp "$f" "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f" .json).out"; done' } }] });
    const bodies = Array.from({ length: 20 }, (_, i) => JSON.stringify({ order: i }));
    await add(n.stream, [...bodies.slice(0, 10), 'not json', ...bodies.slice(10)]);
    const succeeded = async () => (await gpuq.client.listPipelineRuns({ pipeline: 'score', limit: 100 })).runs.filter((r) => r.state === 'succeeded');
    const runs = await until('a run per message to succeed', async () => ((await succeeded()).length === 20 ? succeeded() : undefined), 60_000, 50);
    expect(runs.every((r) => r.source === 'orders')).toBe(true);
    // Each run's one input is its message, named by stream and entry id; each published its output.
    const entries = (await redis.xrange(n.stream, '-', '+')).filter(([, f]) => f[1] !== 'not json');
    const sanitized = (id: string) => `${n.stream}-${id}`.replace(/[^A-Za-z0-9._-]/g, '_');
    expect(runs.map((r) => r.inputs[0]).sort()).toEqual(entries.map(([id]) => `${sanitized(id)}.json`).sort());
    expect(readdirSync(out).sort()).toEqual(entries.map(([id]) => `${sanitized(id)}.out`).sort());
    expect(readFileSync(path.join(out, `${sanitized(entries[3]![0])}.out`), 'utf8')).toBe(bodies[3]);
    const dead = await redis.xrange(n.dead, '-', '+');
    expect(dead).toHaveLength(1);
    expect(dead[0]![1][1]).toMatch(/^malformed: not JSON/);
    expect(await pendingCount(n.stream)).toBe(0);

    // The sink publishes each run's end (not its step jobs: they did not come from a broker).
    const published = await until('an end per run in the sink', async () => {
      const msgs = (await redis.xrange(n.done, '-', '+')).map(([, f]) => JSON.parse(f[f.indexOf('final') + 1]!) as { kind: string; runId: number; state: string; outputs: string[]; source: string });
      return msgs.length >= 20 ? msgs : undefined;
    }, 30_000, 50);
    expect(published.every((m) => m.kind === 'pipeline-run' && m.state === 'succeeded' && m.outputs.length === 1 && m.source === 'orders')).toBe(true);
    expect(new Set(published.map((m) => m.runId))).toEqual(new Set(runs.map((r) => r.id)));

    // The group reads the whole stream again: every message is delivered anew, and none starts a second run.
    await redis.xgroup('SETID', n.stream, 'gpuq', '0');
    await until('the stream read again', async () => {
      const view = (await (await fetch(`${gpuq.url}/v1/intake`)).json()) as { sources: { received: number }[] };
      return view.sources[0]!.received >= 42 ? true : undefined;
    }, 30_000, 50);
    await until('every entry acked again', async () => ((await pendingCount(n.stream)) === 0 ? true : undefined), 30_000, 50);
    expect((await gpuq.client.listPipelineRuns({ pipeline: 'score', limit: 100 })).runs).toHaveLength(20);
    expect(readdirSync(out)).toHaveLength(20);
  }, 120_000);

  it('refuses to start on a bad intake config, naming the field', async () => {
    const file = path.join(tempDir(), 'intake.yaml');
    writeFileSync(file, 'sources:\n  - name: orders\n    kind: redis\n    url: http://nope\n    stream: s\n    maxDeliveries: 0\n');
    const r = await runCli(['up', '--port', '0', '--data-dir', tempDir(), '--fake-gpus', '1', '--intake-config', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/intakeConfig: sources\.0\.url: must be a redis:\/\/ or rediss:\/\/ URL/);
    expect(r.stderr).toMatch(/intakeConfig: sources\.0\.maxDeliveries/);
  });
});
