#!/usr/bin/env node
// Warm worker pool benchmark, through the HTTP API. Run: npm run bench:pools
// (or node bench/pools.mjs [--only name] [--skip name] [--database-url URL] for PostgreSQL).
//
// Every pool here runs test/fixtures/pools/model-worker.mjs (plain Node speaking docs/pool-protocol.md) on
// two simulated GPUs, one per replica.
import path from 'node:path';
import { api, percentile, printTable, record, ROOT, startGpuq, STORE, waitIdle } from './lib.mjs';

const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : null;
const skip = process.argv.includes('--skip') ? process.argv[process.argv.indexOf('--skip') + 1] : null;
const WORKER = path.join(ROOT, 'test/fixtures/pools/model-worker.mjs');
const rows = [];
const results = {};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function createPool(url, spec) {
  await api(url, 'POST', '/v1/pools', { command: [process.execPath, WORKER], gpus: 1, ...spec });
}

async function readyReplicas(url, name, n) {
  for (;;) {
    const { pool } = await api(url, 'GET', `/v1/pools/${name}`);
    if (pool.replicas.filter((r) => r.state === 'ready').length >= n) return pool;
    await sleep(20);
  }
}

async function drained(url, name) {
  for (;;) {
    const { pool } = await api(url, 'GET', `/v1/pools/${name}`);
    if (pool.backlog.queued === 0 && pool.backlog.running === 0) return;
    await sleep(5);
  }
}

async function submitAll(url, name, n, batch, concurrency, payload) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const k = Math.min(batch, n - next);
      next += k;
      await api(url, 'POST', `/v1/pools/${name}/tasks`, { tasks: Array.from({ length: k }, () => ({ payload })) });
    }
  }));
}

/** Tasks/s through 2 ready replicas of a no-op worker: end to end (submitting while they work), and draining a backlog. */
async function throughput() {
  const N = 100_000, BATCH = 5000, CONCURRENCY = 2;
  const g = await startGpuq(['--fake-gpus', '2']);
  try {
    await createPool(g.url, { name: 'noop', minReplicas: 2, maxReplicas: 2, concurrency: 1024 });
    await readyReplicas(g.url, 'noop', 2);
    await api(g.url, 'POST', '/v1/pools/noop/tasks?wait=30', { payload: { op: 'noop' } }); // warm up

    const t0 = performance.now();
    await submitAll(g.url, 'noop', N, BATCH, CONCURRENCY, { op: 'noop' });
    const tSubmitted = performance.now();
    await drained(g.url, 'noop');
    const e2e = (performance.now() - t0) / 1000;

    // A backlog first: a job holds both GPUs, so a second pool's replicas wait for a node while its tasks queue;
    // cancelling the job lets them start and drain it.
    await api(g.url, 'DELETE', '/v1/pools/noop');
    const { job } = await api(g.url, 'POST', '/v1/jobs', { command: ['sleep', '600'], gpus: 2 });
    while ((await api(g.url, 'GET', `/v1/jobs/${job.id}`)).job.state !== 'running') await sleep(20);
    await createPool(g.url, { name: 'drain', minReplicas: 2, maxReplicas: 2, concurrency: 1024 });
    await submitAll(g.url, 'drain', N, BATCH, CONCURRENCY, { op: 'noop' });
    const d0 = performance.now();
    await api(g.url, 'POST', `/v1/jobs/${job.id}/cancel`);
    await drained(g.url, 'drain');
    const drain = (performance.now() - d0) / 1000;

    results.throughput = { store: STORE, tasks: N, batch: BATCH, submitters: CONCURRENCY, concurrencyPerReplica: 1024, submitSeconds: (tSubmitted - t0) / 1000, endToEndSeconds: e2e, endToEndTasksPerSecond: N / e2e, drainSeconds: drain, drainTasksPerSecond: N / drain };
    const target = STORE === 'sqlite' ? '≥ 20,000 tasks/s' : '≥ 10,000 tasks/s';
    rows.push({ benchmark: `${N} no-op tasks, 2 replicas, submitted in batches of ${BATCH} while they run`, result: `${Math.round(N / e2e)} tasks/s (${e2e.toFixed(2)} s)`, target });
    rows.push({ benchmark: `${N} queued no-op tasks drained by 2 replicas (from their start)`, result: `${Math.round(N / drain)} tasks/s (${drain.toFixed(2)} s)`, target });
  } finally {
    await g.stop();
  }
}

/** Idle latency: one task at a time to a warm replica. Server-side submit → delivered and submit → result; and the client's round trip of a synchronous call. */
async function latency() {
  const N = 500;
  const g = await startGpuq(['--fake-gpus', '2']);
  try {
    await createPool(g.url, { name: 'lat', minReplicas: 1, maxReplicas: 1, concurrency: 1 });
    await readyReplicas(g.url, 'lat', 1);
    const deliver = [], answer = [], roundTrip = [];
    for (let i = 0; i < N + 20; i++) {
      const t0 = performance.now();
      const { task } = await api(g.url, 'POST', '/v1/pools/lat/tasks?wait=30', { payload: { op: 'noop' } });
      const rt = performance.now() - t0;
      if (task.state !== 'succeeded') throw new Error(`task ${task.id} ${task.state}`);
      if (i < 20) continue; // warm-up
      deliver.push(task.startedAt - task.createdAt);
      answer.push(task.finishedAt - task.createdAt);
      roundTrip.push(rt);
    }
    const stats = (xs) => {
      xs.sort((a, b) => a - b);
      return { p50Ms: percentile(xs, 50), p99Ms: percentile(xs, 99), maxMs: xs.at(-1) };
    };
    results.latency = { store: STORE, tasks: N, deliver: stats(deliver), answer: stats(answer), roundTrip: stats(roundTrip) };
    const f = (s) => `p50 ${s.p50Ms.toFixed(3)} ms, p99 ${s.p99Ms.toFixed(3)} ms`;
    rows.push({ benchmark: `idle task latency, submit → delivered to the replica (server), ${N} sequential`, result: f(results.latency.deliver), target: STORE === 'sqlite' ? 'p50 ≤ 1 ms' : 'record' });
    rows.push({ benchmark: `idle task latency, submit → result recorded (server)`, result: f(results.latency.answer), target: 'record' });
    rows.push({ benchmark: `idle task latency, synchronous submit-and-wait round trip (client)`, result: f(results.latency.roundTrip), target: 'record' });
  } finally {
    await g.stop();
  }
}

/** Cold start from zero with a worker that is ready at once: task accepted → replica ready → result, as the pool reports it. */
async function coldStart() {
  const ROUNDS = 7;
  const g = await startGpuq(['--fake-gpus', '2']);
  try {
    await createPool(g.url, { name: 'cold', minReplicas: 0, maxReplicas: 1, idleTimeoutSeconds: 0.2 });
    const rounds = [];
    for (let i = 0; i < ROUNDS; i++) {
      // At zero: the previous round's replica has ended.
      for (;;) {
        const { pool } = await api(g.url, 'GET', '/v1/pools/cold');
        if (pool.replicas.every((r) => r.state === 'ended')) break;
        await sleep(20);
      }
      const { task } = await api(g.url, 'POST', '/v1/pools/cold/tasks?wait=60', { payload: { op: 'noop' } });
      const { pool } = await api(g.url, 'GET', '/v1/pools/cold');
      const c = pool.coldStart;
      if (!task.cold || c?.taskId !== task.id) throw new Error(`task ${task.id} was not measured as a cold start`);
      rounds.push({ toReadyMs: c.replicaReadyAt - c.acceptedAt, toResultMs: c.resultAt - c.acceptedAt });
    }
    const sorted = [...rounds].sort((a, b) => a.toResultMs - b.toResultMs);
    const median = sorted[Math.floor(ROUNDS / 2)];
    results.coldStart = { store: STORE, rounds, median };
    rows.push({ benchmark: `cold start from zero, worker ready at once (median of ${ROUNDS})`, result: `accepted → ready ${median.toReadyMs.toFixed(0)} ms → result ${median.toResultMs.toFixed(0)} ms (all: ${rounds.map((r) => r.toResultMs.toFixed(0)).join(', ')})`, target: '≤ 300 ms' });
  } finally {
    await g.stop();
  }
}

/** The same 5,000 squares through a warm pool and as one-process jobs (each starts Node, "loads" nothing, answers one). */
async function versusJobs() {
  const N = 5000;
  const g = await startGpuq(['--fake-gpus', '2']);
  try {
    await createPool(g.url, { name: 'sq', minReplicas: 2, maxReplicas: 2, concurrency: 64 });
    await readyReplicas(g.url, 'sq', 2);
    const p0 = performance.now();
    const { tasks } = await api(g.url, 'POST', '/v1/pools/sq/tasks?wait=300', { tasks: Array.from({ length: N }, (_, x) => ({ payload: { op: 'square', x } })) });
    const poolSeconds = (performance.now() - p0) / 1000;
    if (tasks.some((t, x) => t.result?.y !== x * x)) throw new Error('a pool task answered wrongly');

    // The pool gives its GPUs back before the jobs run on them.
    await api(g.url, 'DELETE', '/v1/pools/sq');
    const once = `const x = Number(process.argv[1]); require('node:fs').writeFileSync(process.env.GPUQ_RESULT_FILE, JSON.stringify({ y: x * x }));`;
    const j0 = performance.now();
    for (let i = 0; i < N; i += 1000) await api(g.url, 'POST', '/v1/jobs', { jobs: Array.from({ length: Math.min(1000, N - i) }, (_, k) => ({ command: [process.execPath, '-e', once, String(i + k)], gpus: 1 })) });
    await waitIdle(g.url, 50);
    const jobSeconds = (performance.now() - j0) / 1000;
    results.versusJobs = { store: STORE, tasks: N, poolSeconds, poolTasksPerSecond: N / poolSeconds, jobSeconds, jobsPerSecond: N / jobSeconds, speedup: jobSeconds / poolSeconds };
    rows.push({ benchmark: `${N} squares through a warm pool of 2 (one submit-and-wait call)`, result: `${poolSeconds.toFixed(2)} s (${Math.round(N / poolSeconds)} tasks/s)`, target: 'record' });
    rows.push({ benchmark: `the same ${N} as one-process jobs on 2 GPUs (node -e each)`, result: `${jobSeconds.toFixed(2)} s (${Math.round(N / jobSeconds)} jobs/s): the pool is ${(jobSeconds / poolSeconds).toFixed(0)}× faster, before any model load`, target: 'record' });
  } finally {
    await g.stop();
  }
}

const all = { throughput, latency, cold: coldStart, versus: versusJobs };
for (const [name, fn] of Object.entries(all)) {
  if ((only && only !== name) || skip === name) continue;
  process.stderr.write(`running ${name}…\n`);
  await fn();
}
const table = printTable(rows);
if (!only) record(STORE === 'sqlite' ? 'pools' : 'pools-postgres', `${STORE === 'sqlite' ? 'npm run bench:pools' : 'npm run build && node bench/pools.mjs --database-url postgres://postgres@127.0.0.1:5432/test'}${skip ? ` --skip ${skip}` : ''}`, table, results);
