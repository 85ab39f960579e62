#!/usr/bin/env node
// Pipelines triggered by files (ADR 0018), through the HTTP API. Run: npm run bench:pipelines
// (or node bench/pipelines.mjs [--only latency|settle|throughput] [--skip name]).
//
// Each scenario starts a real `gpuq up --fake-gpus 2` on SQLite, defines a pipeline of noop steps and a directory
// trigger on a fresh directory, and drops files into it the way a well-behaved writer does: written beside it (a
// sibling directory on the same filesystem), then renamed in. Times are read from gpuq's own records (the run's
// createdAt, the job's first attempt's startedAt) and compared with the time of each rename, taken by this process
// as gpuq takes its own (performance.timeOrigin + performance.now(): the machine's wall clock, one clock for both).
//
// BENCH_PIPELINES_FILES (default 200) sets the number of files of the latency scenarios, BENCH_PIPELINES_BULK
// (default 2000) the number of the throughput scenario.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, percentile, printTable, record, startGpuq, STORE } from './lib.mjs';

const arg = (flag) => (process.argv.includes(flag) ? process.argv[process.argv.indexOf(flag) + 1] : null);
const only = arg('--only');
const skip = arg('--skip');
const N_LATENCY = Number(process.env.BENCH_PIPELINES_FILES ?? 200);
const N_BULK = Number(process.env.BENCH_PIPELINES_BULK ?? 2000);
const SPACING_MS = 20;
const WARMUP = 10;
const POLL_MS = 50;
const SETTLE_MS = 500;
const TIMEOUT_MS = 8 * 60_000;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rows = [];
const results = {};

/** CPU seconds (user + system) the process has used so far, from /proc (clock ticks of 1/100 s). */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** A watched directory and a staging directory beside it (same filesystem: the rename in is atomic). */
function directories() {
  const base = mkdtempSync(path.join(os.tmpdir(), 'gpuq-bench-pipelines-'));
  const dirs = { base, watch: path.join(base, 'in'), stage: path.join(base, 'stage'), out: path.join(base, 'out') };
  for (const d of [dirs.watch, dirs.stage, dirs.out]) mkdirSync(d);
  return dirs;
}

/** Writes `name` in the staging directory, renames it into the watched one, and returns when it was renamed. */
function drop(dirs, name) {
  const staged = path.join(dirs.stage, name);
  writeFileSync(staged, `${name}\n`);
  renameSync(staged, path.join(dirs.watch, name));
  return now();
}

/** Files whose runs have ended, as the trigger settles them (moved to done/ or failed/): no load on the server. */
function settled(dirs, prefix) {
  const count = (area) => {
    try {
      return readdirSync(path.join(dirs.watch, area)).filter((n) => n.startsWith(prefix) && !n.endsWith('.reason.txt')).length;
    } catch {
      return 0;
    }
  };
  return { done: count('done'), failed: count('failed') };
}

/** Waits until n files are in done/; returns when the first one was seen there (polled every 100 ms). */
async function waitSettled(dirs, prefix, n, what) {
  const deadline = Date.now() + TIMEOUT_MS;
  let firstDoneAt = null;
  for (;;) {
    const s = settled(dirs, prefix);
    if (s.failed > 0) throw new Error(`${what}: ${s.failed} file(s) in failed/ (see ${path.join(dirs.watch, 'failed')})`);
    if (s.done > 0) firstDoneAt ??= now();
    if (s.done >= n) return firstDoneAt;
    if (Date.now() > deadline) throw new Error(`${what}: only ${s.done} of ${n} files done after ${TIMEOUT_MS / 1000} s`);
    await sleep(100);
  }
}

/** Every run of a pipeline (newest first), paging with nextBefore. */
async function allRuns(url, pipeline) {
  const runs = [];
  let before = null;
  do {
    const page = await api(url, 'GET', `/v1/pipeline-runs?pipeline=${pipeline}&limit=1000${before ? `&before=${before}` : ''}`);
    runs.push(...page.runs);
    before = page.nextBefore;
  } while (before);
  return runs;
}

/** Maps over xs with at most `width` calls in flight. */
async function mapLimit(xs, width, fn) {
  const out = new Array(xs.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < xs.length) {
      const i = next++;
      out[i] = await fn(xs[i], i);
    }
  }));
  return out;
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50Ms: percentile(s, 50), p90Ms: percentile(s, 90), p99Ms: percentile(s, 99), minMs: s[0], maxMs: s.at(-1), meanMs: s.reduce((a, b) => a + b, 0) / s.length };
}
const fmt = (s) => `p50 ${s.p50Ms.toFixed(1)} ms, p90 ${s.p90Ms.toFixed(1)} ms, p99 ${s.p99Ms.toFixed(1)} ms`;

/**
 * Gaps between the trigger's listings, as the runs show them: runs started by one listing are created one after
 * another (a few ms apart); a gap of more than `minGap` ms between consecutive runs' createdAt is a new listing.
 */
function listingGaps(createdAts, minGap = 30) {
  const s = [...createdAts].sort((a, b) => a - b);
  const starts = [s[0]];
  for (let i = 1; i < s.length; i++) if (s[i] - s[i - 1] > minGap) starts.push(s[i]);
  const gaps = starts.slice(1).map((t, i) => t - starts[i]);
  return { listings: starts.length, runsPerListing: s.length / starts.length, gap: gaps.length ? stats(gaps) : null };
}

/**
 * Where rename → run created goes: a file waits for the next listing that sees it (rename → the first run that
 * listing created; that includes one claim), then for the files claimed before it in the same listing (that first
 * run → its own), as the trigger claims a listing's files one after another, in name order (the order dropped here).
 */
function claimQueue(detail, minGap = 30) {
  const s = [...detail].sort((a, b) => a.createdAt - b.createdAt);
  const toListing = [];
  const inListing = [];
  let first = s[0];
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && s[i].createdAt - s[i - 1].createdAt > minGap) first = s[i];
    toListing.push(first.createdAt - s[i].renamedAt);
    inListing.push(s[i].createdAt - first.createdAt);
  }
  return { renameToListingsFirstRun: stats(toListing), queuedBehindEarlierFiles: stats(inListing) };
}

/**
 * File → run latency: a pipeline of one noop step (fan-out) and a directory trigger (pollMs 50); files dropped one
 * at a time, SPACING_MS apart. For each: rename → run created (run.createdAt) and rename → its job's first attempt
 * started (attempts[0].startedAt), minus `subtractMs` (the settling time of settle mode).
 */
async function latency(key, complete, subtractMs) {
  const g = await startGpuq(['--fake-gpus', '2']);
  const dirs = directories();
  try {
    await api(g.url, 'POST', '/v1/pipelines', { name: 'lat', steps: [{ name: 'one', job: { type: 'noop' }, fanOut: true }], outputDir: dirs.out });
    await api(g.url, 'POST', '/v1/triggers', { name: 'lat', pipeline: 'lat', directory: dirs.watch, complete, pollMs: POLL_MS });

    // Warm-up: a few files through the whole path first (not measured).
    for (let i = 0; i < WARMUP; i++) {
      drop(dirs, `warm-${String(i).padStart(4, '0')}.txt`);
      await sleep(50);
    }
    await waitSettled(dirs, 'warm-', WARMUP, `${key} warm-up`);

    const renamedAt = new Map();
    const t0 = now();
    for (let i = 0; i < N_LATENCY; i++) {
      const wait = t0 + i * SPACING_MS - now();
      if (wait > 1) await sleep(wait);
      const name = `file-${String(i).padStart(5, '0')}.txt`;
      renamedAt.set(name, drop(dirs, name));
    }
    const dropSeconds = (now() - t0) / 1000;
    await waitSettled(dirs, 'file-', N_LATENCY, key);

    const runs = (await allRuns(g.url, 'lat')).filter((r) => renamedAt.has(r.inputs[0]));
    if (runs.length !== N_LATENCY) throw new Error(`${key}: ${runs.length} runs for ${N_LATENCY} files`);
    const detail = await mapLimit(runs, 8, async (r) => {
      const { run } = await api(g.url, 'GET', `/v1/pipeline-runs/${r.id}`);
      const first = run.jobs.find((j) => j.step === 0 && j.lane === 0);
      const { attempts } = await api(g.url, 'GET', `/v1/jobs/${first.jobId}`);
      const at = renamedAt.get(run.inputs[0]);
      const a = attempts[0];
      return { file: run.inputs[0], run: run.id, state: run.state, renamedAt: at, createdAt: run.createdAt, assignedAt: a.assignedAt, startedAt: a.startedAt, endedAt: run.endedAt };
    });
    if (detail.some((d) => d.state !== 'succeeded')) throw new Error(`${key}: not every run succeeded`);
    const created = stats(detail.map((d) => d.createdAt - d.renamedAt - subtractMs));
    const started = stats(detail.map((d) => d.startedAt - d.renamedAt - subtractMs));
    const createdToAssigned = stats(detail.map((d) => d.assignedAt - d.createdAt));
    const assignedToStarted = stats(detail.map((d) => d.startedAt - d.assignedAt));
    const startedToRunEnd = stats(detail.map((d) => d.endedAt - d.startedAt));
    const listings = listingGaps(detail.map((d) => d.createdAt));
    const queue = claimQueue(detail);
    results[key] = { store: STORE, complete, pollMs: POLL_MS, files: N_LATENCY, spacingMs: SPACING_MS, dropSeconds, subtractedMs: subtractMs, renameToCreated: created, renameToStarted: started, createdToAssigned, assignedToStarted, startedToRunEnd, listings, ...queue };

    const mode = complete.mode === 'settle' ? `settle ${complete.settleMs} ms (${subtractMs} ms subtracted)` : 'rename';
    rows.push({ benchmark: `file → run created, ${mode}, pollMs ${POLL_MS}, ${N_LATENCY} files ${SPACING_MS} ms apart`, result: fmt(created), target: 'record' });
    rows.push({ benchmark: `file → its first job started, ${mode}`, result: fmt(started), target: 'p50 ≤ 100 ms' });
    process.stderr.write(`  ${key}: run created → assigned p50 ${createdToAssigned.p50Ms.toFixed(1)} ms, assigned → started p50 ${assignedToStarted.p50Ms.toFixed(1)} ms; ${listings.listings} listings, ${listings.runsPerListing.toFixed(1)} runs each, gap p50 ${listings.gap?.p50Ms.toFixed(0)} ms; rename → its listing's first run p50 ${queue.renameToListingsFirstRun.p50Ms.toFixed(1)} ms (unsubtracted), queued behind earlier files of the listing p50 ${queue.queuedBehindEarlierFiles.p50Ms.toFixed(1)} ms, max ${queue.queuedBehindEarlierFiles.maxMs.toFixed(1)} ms\n`);
  } finally {
    await g.stop();
    rmSync(dirs.base, { recursive: true, force: true });
    rmSync(g.dataDir, { recursive: true, force: true });
  }
}

/** Throughput: N_BULK files renamed in at once, a pipeline of 3 noop steps (all fan-out); until every run succeeded. */
async function throughput() {
  const STEPS = 3;
  const g = await startGpuq(['--fake-gpus', '2']);
  const dirs = directories();
  try {
    await api(g.url, 'POST', '/v1/pipelines', { name: 'bulk', steps: Array.from({ length: STEPS }, (_, i) => ({ name: `s${i + 1}`, job: { type: 'noop' }, fanOut: true })), outputDir: dirs.out });
    await api(g.url, 'POST', '/v1/triggers', { name: 'bulk', pipeline: 'bulk', directory: dirs.watch, complete: { mode: 'rename' }, pollMs: POLL_MS });
    for (let i = 0; i < WARMUP; i++) drop(dirs, `warm-${String(i).padStart(4, '0')}.txt`);
    await waitSettled(dirs, 'warm-', WARMUP, 'throughput warm-up');

    const names = Array.from({ length: N_BULK }, (_, i) => `file-${String(i).padStart(5, '0')}.txt`);
    for (const n of names) writeFileSync(path.join(dirs.stage, n), `${n}\n`);
    const cpu0 = cpuSeconds(g.pid);
    const t0 = now();
    for (const n of names) renameSync(path.join(dirs.stage, n), path.join(dirs.watch, n));
    const renameMs = now() - t0;
    const firstDoneAt = await waitSettled(dirs, 'file-', N_BULK, 'throughput');
    const tSettled = now();
    const cpu = cpuSeconds(g.pid) - cpu0;

    const runs = (await allRuns(g.url, 'bulk')).filter((r) => r.inputs[0].startsWith('file-'));
    if (runs.length !== N_BULK) throw new Error(`throughput: ${runs.length} runs for ${N_BULK} files`);
    const notOk = runs.filter((r) => r.state !== 'succeeded');
    if (notOk.length) throw new Error(`throughput: ${notOk.length} runs did not succeed (run ${notOk[0].id}: ${notOk[0].state} ${notOk[0].reason})`);
    const created = runs.map((r) => r.createdAt - t0);
    const ended = runs.map((r) => r.endedAt - t0);
    const allCreated = Math.max(...created) / 1000;
    const allEnded = Math.max(...ended) / 1000;
    const settledSeconds = (tSettled - t0) / 1000;
    const jobs = N_BULK * STEPS;
    // Runs ended by time: when the first and the last half ended (does the pace hold as the backlog shrinks?).
    const endedSorted = [...ended].sort((a, b) => a - b);
    const halfway = endedSorted[Math.floor(N_BULK / 2) - 1] / 1000;
    results.throughput = {
      store: STORE,
      files: N_BULK,
      steps: STEPS,
      jobs,
      renameAllMs: renameMs,
      firstRunCreatedSeconds: Math.min(...created) / 1000,
      allRunsCreatedSeconds: allCreated,
      firstRunEndedSeconds: endedSorted[0] / 1000,
      halfRunsEndedSeconds: halfway,
      allRunsSucceededSeconds: allEnded,
      firstFileInDoneSeconds: (firstDoneAt - t0) / 1000,
      allFilesInDoneSeconds: settledSeconds,
      filesPerSecond: N_BULK / allCreated,
      runsPerSecond: N_BULK / allEnded,
      jobsPerSecond: jobs / allEnded,
      serverCpuSeconds: cpu,
      serverCpuShare: cpu / settledSeconds,
    };
    rows.push({ benchmark: `${N_BULK} files renamed in at once (rename mode), pipeline of ${STEPS} fan-out noop steps: first rename → all ${N_BULK} runs created`, result: `${allCreated.toFixed(2)} s (${Math.round(N_BULK / allCreated)} files/s)`, target: 'record' });
    rows.push({ benchmark: `same: first rename → all ${N_BULK} runs succeeded (${jobs} jobs)`, result: `${allEnded.toFixed(2)} s (${Math.round(N_BULK / allEnded)} runs/s, ${Math.round(jobs / allEnded)} jobs/s)`, target: 'record' });
    process.stderr.write(`  throughput: renames ${renameMs.toFixed(0)} ms; first run created ${results.throughput.firstRunCreatedSeconds.toFixed(2)} s, all created ${allCreated.toFixed(2)} s; first ended ${(endedSorted[0] / 1000).toFixed(2)} s, half ${halfway.toFixed(2)} s, all ${allEnded.toFixed(2)} s; first file in done/ ${results.throughput.firstFileInDoneSeconds.toFixed(2)} s, all ${settledSeconds.toFixed(2)} s; server CPU ${cpu.toFixed(1)} s (${Math.round((100 * cpu) / settledSeconds)} % of one core)\n`);
  } finally {
    await g.stop();
    rmSync(dirs.base, { recursive: true, force: true });
    rmSync(g.dataDir, { recursive: true, force: true });
  }
}

const all = {
  latency: () => latency('latency', { mode: 'rename' }, 0),
  settle: () => latency('settle', { mode: 'settle', settleMs: SETTLE_MS }, SETTLE_MS),
  throughput,
};
for (const [name, fn] of Object.entries(all)) {
  if ((only && only !== name) || skip === name) continue;
  process.stderr.write(`running ${name}…\n`);
  const t = performance.now();
  await fn();
  process.stderr.write(`  (${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
}
const table = printTable(rows);
const counts = N_LATENCY === 200 && N_BULK === 2000 ? '' : `BENCH_PIPELINES_FILES=${N_LATENCY} BENCH_PIPELINES_BULK=${N_BULK} `;
if (!only) record('pipelines', `${counts}npm run bench:pipelines${skip ? ` -- --skip ${skip}` : ''}`, table, results);
