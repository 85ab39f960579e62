#!/usr/bin/env node
// CPU Monte Carlo risk engine throughput: path-steps per second (log-space GBM steps, one per path
// per time step) on worker threads over all cores, plus one worker for the per-core rate. Each row is
// the median of 3 runs of the whole engine (validation, simulation, exact reduce, statistics), its
// worker threads kept between runs as in any process that runs several; the first row is a process's
// first run instead (workers started, JIT cold), as in a shard job. Prints a table, writes
// bench/results/risk-cpu.json and the risk-cpu section of docs/benchmarks.md. Needs `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { printTable, record } from './lib.mjs';

const { runRiskCpu } = await import('../dist/risk/cpu-engine.js');
const { lognormalVarEs } = await import('../dist/risk/closed-forms.js');

const ROUNDS = 3;
const cores = os.availableParallelism();

// Levels 95 %, 99 %, 99.9 %: the 95 % level makes every worker keep its 5 % largest losses (exact reduce).
const single = (paths) => ({
  assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }],
  horizonDays: 10,
  steps: 10,
  confidenceLevels: [0.95, 0.99, 0.999],
  paths,
  seed: 1,
});
const basket = (paths) => {
  const n = 5;
  return {
    assets: Array.from({ length: n }, (_, i) => ({ id: `A${i}`, spot: 100, drift: 0.06, volatility: 0.15 + 0.05 * i, position: 1 })),
    correlation: Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0.3))),
    horizonDays: 10,
    steps: 10,
    confidenceLevels: [0.99],
    paths,
    seed: 1,
  };
};

async function measure(portfolio, workers) {
  const times = [];
  let result;
  for (let i = 0; i < ROUNDS; i++) {
    const t = performance.now();
    result = await runRiskCpu(portfolio, { workers });
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(ROUNDS / 2)], all: times, result };
}

const rows = [];
const results = [];

// The first run of a process starts the workers and warms the JIT up; later runs reuse both (the pool is
// kept between runs). A shard job is such a first run: measured in a fresh process, from the call.
{
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-risk-bench-'));
  const script = path.join(dir, 'cold.mjs');
  writeFileSync(script, `const { runRiskCpu } = await import(${JSON.stringify(new URL('../dist/risk/cpu-engine.js', import.meta.url).href)});
const t = performance.now(); await runRiskCpu(${JSON.stringify(single(10_000_000))}); console.log((performance.now() - t) / 1000);`);
  const runs = [];
  for (let i = 0; i < ROUNDS; i++) runs.push(Number(execFileSync(process.execPath, [script], { encoding: 'utf8' }).trim()));
  runs.sort((a, b) => a - b);
  const seconds = runs[Math.floor(ROUNDS / 2)];
  const rate = 1e8 / seconds;
  rows.push({ benchmark: `1 asset, 10 steps, 10^7 paths, ${cores} workers, first run of a process`, result: `${(rate / 1e6).toFixed(1)} M path-steps/s; ${seconds.toFixed(2)} s (runs: ${runs.map((t) => t.toFixed(2)).join(', ')})`, target: 'record (worker start + JIT warm-up)' });
  results.push({ name: 'cold', paths: 1e7, steps: 10, assets: 1, workers: cores, seconds: runs, pathStepsPerSecond: rate });
}

const cases = [
  { name: `1 asset, 10 steps, 10^7 paths, ${cores} workers`, portfolio: single(10_000_000), workers: cores, assets: 1, target: '≥ 2×10^8 path-steps/s' },
  { name: `same, 99 % only (a 1 % tail to keep, not 5 %)`, portfolio: { ...single(10_000_000), confidenceLevels: [0.99] }, workers: cores, assets: 1, target: '≥ 2×10^8 path-steps/s' },
  // The GPU benchmark's shape (252 daily steps a year): per-path costs (P&L, reduce, tail) spread over 25× more steps.
  { name: `1 asset, 252 steps, 4×10^6 paths, ${cores} workers`, portfolio: { ...single(4_000_000), steps: 252 }, workers: cores, assets: 1, target: '≥ 2×10^8 path-steps/s' },
  { name: '1 asset, 10 steps, 10^7 paths, 1 worker', portfolio: single(10_000_000), workers: 1, assets: 1, target: 'record (per core)' },
  { name: `5 correlated assets, 10 steps, 2×10^6 paths, ${cores} workers`, portfolio: basket(2_000_000), workers: cores, assets: 5, target: 'record' },
  { name: `5 correlated assets, 252 steps, 2×10^5 paths, ${cores} workers`, portfolio: { ...basket(200_000), steps: 252 }, workers: cores, assets: 5, target: 'record' },
];
for (const c of cases) {
  const m = await measure(c.portfolio, c.workers);
  const pathSteps = c.portfolio.paths * c.portfolio.steps;
  const rate = pathSteps / m.seconds;
  const extra = c.assets > 1 ? ` (${((rate * c.assets) / 1e6).toFixed(0)} M asset-path-steps/s)` : '';
  rows.push({ benchmark: c.name, result: `${(rate / 1e6).toFixed(1)} M path-steps/s${extra}; ${m.seconds.toFixed(2)} s (runs: ${m.all.map((t) => t.toFixed(2)).join(', ')})`, target: c.target });
  results.push({ name: c.name, paths: c.portfolio.paths, steps: c.portfolio.steps, assets: c.assets, workers: c.workers, seconds: m.all, pathStepsPerSecond: rate });
  if (c.assets === 1 && c.workers === cores && c.portfolio.confidenceLevels.length === 3 && c.portfolio.steps === 10) {
    const exact = lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99);
    const l = m.result.levels.find((x) => x.confidence === 0.99);
    rows.push({
      benchmark: '  its 99 % VaR / ES vs closed form 10.767 / 12.250',
      result: `${l.valueAtRisk.toFixed(4)} ± ${l.valueAtRiskSe.toFixed(4)} / ${l.expectedShortfall.toFixed(4)} ± ${l.expectedShortfallSe.toFixed(4)} (errors ${((l.valueAtRisk / exact.valueAtRisk - 1) * 100).toFixed(3)} % / ${((l.expectedShortfall / exact.expectedShortfall - 1) * 100).toFixed(3)} %)`,
      target: 'within 0.2 %',
    });
  }
}
const table = printTable(rows);
record('risk-cpu', 'npm run bench:risk', table, results);
