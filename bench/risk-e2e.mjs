#!/usr/bin/env node
// A risk run end to end through gpuq against the same run as one process: the orchestration overhead.
// The run: 1 asset, 10 steps, 10^7 paths, levels 95/99/99.9 %. One process: `node` running the CPU
// engine on all cores (process start included). Through gpuq: `gpuq risk run` against a `gpuq up
// --fake-gpus 4`, from the CLI's start to its exit (plan, submit, 4 shard jobs on the 4 simulated GPUs
// with CPU engines, the reduce job, the report); also with a single shard. Median of 3 rounds each.
// Prints a table, writes bench/results/risk-e2e.json and the risk-e2e section of docs/benchmarks.md.
// Needs `npm run build`.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI, printTable, record, ROOT, startGpuq } from './lib.mjs';

const ROUNDS = 3;
const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-risk-e2e-'));
const portfolio = { assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }], horizonDays: 10, steps: 10, confidenceLevels: [0.95, 0.99, 0.999], paths: 10_000_000, seed: 1 };
const file = path.join(dir, 'single.json');
writeFileSync(file, JSON.stringify(portfolio));

function run(args) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => (code === 0 ? resolve({ seconds: (performance.now() - t) / 1000, out }) : reject(new Error(`${args.join(' ')} exited with ${code}`))));
  });
}

// The same run as one plain Node.js process (a script, as a user without gpuq would run it).
const script = path.join(dir, 'one-process.mjs');
writeFileSync(
  script,
  `const { runRiskCpu } = await import(${JSON.stringify(path.join(ROOT, 'dist/risk/cpu-engine.js'))});
const t = performance.now();
const r = await runRiskCpu(${JSON.stringify(portfolio)});
console.log(JSON.stringify({ simSeconds: (performance.now() - t) / 1000, levels: r.levels, mean: r.mean }));
`,
);

async function median(label, f) {
  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await f(i));
  rounds.sort((a, b) => a.seconds - b.seconds);
  process.stderr.write(`${label}: ${rounds.map((r) => r.seconds.toFixed(2)).join(', ')} s\n`);
  return { ...rounds[Math.floor(ROUNDS / 2)], all: rounds.map((r) => r.seconds) };
}

const gpuq = await startGpuq(['--fake-gpus', '4']);
try {
  const single = await median('one process', async () => {
    const r = await run([script]);
    return { seconds: r.seconds, ...JSON.parse(r.out) };
  });
  const viaGpuq = (shards) =>
    median(`gpuq, ${shards} shard(s)`, async (i) => {
      const r = await run([CLI, 'risk', 'run', file, '--url', gpuq.url, '--shards', String(shards), '--json', '--run-dir', path.join(dir, `run-${shards}-${i}`)]);
      const o = JSON.parse(r.out);
      return { seconds: r.seconds, simSeconds: o.report.simulationSeconds, levels: o.report.result.levels, mean: o.report.result.mean };
    });
  const four = await viaGpuq(4);
  const one = await viaGpuq(1);
  const same = JSON.stringify([four.levels, four.mean]) === JSON.stringify([single.levels, single.mean]) && JSON.stringify([one.levels, one.mean]) === JSON.stringify([single.levels, single.mean]);
  const rows = [
    { benchmark: 'one process (node + CPU engine, 2 workers)', result: `${single.seconds.toFixed(2)} s wall (simulation ${single.simSeconds.toFixed(2)} s)`, target: 'baseline' },
    { benchmark: 'gpuq risk run, 4 shards on 4 simulated GPUs', result: `${four.seconds.toFixed(2)} s wall (shards' simulation ${four.simSeconds.toFixed(2)} s in all); overhead ${(four.seconds - single.seconds).toFixed(2)} s`, target: 'record' },
    { benchmark: 'gpuq risk run, 1 shard', result: `${one.seconds.toFixed(2)} s wall (simulation ${one.simSeconds.toFixed(2)} s); overhead ${(one.seconds - single.seconds).toFixed(2)} s`, target: 'record' },
    { benchmark: 'VaR, ES and mean identical in all three', result: same ? 'yes, bit for bit' : 'NO', target: 'identical' },
  ];
  record('risk-e2e', 'npm run bench:risk-e2e', printTable(rows), { single, four, one, same, paths: portfolio.paths, steps: portfolio.steps });
  if (!same) process.exitCode = 1;
} finally {
  await gpuq.stop();
}
