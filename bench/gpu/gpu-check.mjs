#!/usr/bin/env node
// The CUDA risk engine on a GPU host: builds it, checks it, measures it (ADR 0010). Run through
// bench/gpu-check, which checks that `npm run build` has been run; imports dist/.
//
// Checks, each with its criterion (any failure: exit 1):
//   (a) Philox4x32-10 on the device: Random123's known answers, and 4,096 blocks of a unit of a run
//       bit for bit equal to the TypeScript reference; the device's normals follow the stream layout.
//   (b) closed forms: single asset (S0 100, μ 8 %, σ 25 %, 10 days/252, 99 %) VaR 10.767 and ES 12.250
//       within 0.2 % and 4 SE at 10^7 paths; Black–Scholes call (S = K = 100, r 5 %, σ 20 %, T 1)
//       10.4506 within 4 SE and 0.1 %.
//   (c) CUDA vs the CPU engine on a 5-asset correlated portfolio with options: mean, VaR, ES at every
//       level within 4·√(se_cpu² + se_gpu²).
//   (d) the same seed twice: bitwise-identical JSON; a run split into 2 ranges (one of them in small
//       chunks) and reduced by finishRun: bitwise equal to one range.
//   (e) throughput: 1 asset, 10^8 paths × 252 steps (target ≥ 5×10^11 path-steps/s) and 10 correlated
//       assets, 10^7 × 252 (target ≥ 4×10^11 asset-steps/s): median of 3 runs of the engine's own
//       time (kernels, reduce, tail selection and sort, copies back; no process start or compile).
// Prints a table, writes bench/results/gpu-check.json and the gpu-check section of docs/benchmarks.md.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { printTable, record, ROOT } from '../lib.mjs';

const USAGE = `usage: bench/gpu-check [options]
  --build-only      compile the engine (or find it in the cache), run its host self-test, and stop: no GPU needed
  --emulate         run checks (a)–(d) on the binary's CPU emulation of the kernels (no GPU; no throughput,
                    nothing recorded): to exercise this script on a machine without a GPU
  --arch LIST       nvcc target flags, comma-separated (e.g. "-arch=sm_90"); default: sm_80, sm_90, compute_90 PTX
  --nvcc PATH       the nvcc to build with (default: PATH, then CUDA_HOME/bin, then /usr/local/cuda/bin)
  --cache-dir DIR   the build cache root (default: $XDG_CACHE_HOME or ~/.cache; binaries under gpuq/cuda/)
  --device N        the CUDA device ordinal (default 0)
  --help            this text`;

function parseArgs(argv) {
  const o = { buildOnly: false, emulate: false, device: 0 };
  const value = (i, name) => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) usage(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--build-only') o.buildOnly = true;
    else if (a === '--emulate') o.emulate = true;
    else if (a === '--arch') o.gencode = value(i++, a).split(',').filter((s) => s !== '');
    else if (a === '--nvcc') o.nvcc = value(i++, a);
    else if (a === '--cache-dir') o.cacheDir = path.resolve(value(i++, a));
    else if (a === '--device') {
      o.device = Number(value(i++, a));
      if (!Number.isInteger(o.device) || o.device < 0) usage('--device takes a device ordinal (0, 1, …)');
    } else usage(`unknown argument "${a}"`);
  }
  if (o.buildOnly && o.emulate) usage('--build-only and --emulate exclude each other');
  return o;
}

function usage(problem) {
  console.error(`gpu-check: ${problem}\n${USAGE}`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const dist = (p) => path.join(ROOT, 'dist', p);
if (!existsSync(dist('risk/cuda/cuda-engine.js'))) {
  console.error('gpu-check: dist/risk/cuda/cuda-engine.js is missing: run `npm run build` first');
  process.exit(2);
}
const { buildCudaEngine } = await import(dist('risk/cuda/cuda-build.js'));
const { cudaAvailable, runBinary, runRiskCuda, simulateRangeCuda, simulateRangeCudaTimed } = await import(dist('risk/cuda/cuda-engine.js'));
const { philox4x32, PHILOX_KNOWN_ANSWERS, referenceNormals, seedKey, unitCounter } = await import(dist('risk/cuda/philox.js'));
const { runRiskCpu } = await import(dist('risk/cpu-engine.js'));
const { blackScholes, lognormalVarEs } = await import(dist('risk/closed-forms.js'));
const { finishRun } = await import(dist('risk/engine.js'));
const { compileModel } = await import(dist('risk/model.js'));
const { validatePortfolio } = await import(dist('risk/portfolio.js'));
const { tailKeep } = await import(dist('risk/statistics.js'));
const { histogramSpec } = await import(dist('risk/tail-merge.js'));

const build = { ...(opts.nvcc ? { nvcc: opts.nvcc } : {}), ...(opts.cacheDir ? { cacheDir: opts.cacheDir } : {}), ...(opts.gencode ? { gencode: opts.gencode } : {}) };
const engine = { ...build, device: opts.device, ...(opts.emulate ? { emulate: true } : {}) };

// A GPU first, so a machine without one fails in a second, not after a compile.
if (!opts.buildOnly && !opts.emulate) {
  const avail = cudaAvailable(build);
  if (!avail.ok) {
    console.error(`gpu-check: no usable GPU here: ${avail.reason}. (--build-only compiles without one; --emulate runs the checks on the CPU emulation.)`);
    process.exit(1);
  }
}

const t0 = performance.now();
const bin = await buildCudaEngine(build);
console.error(`engine: ${bin.path} (${bin.compiled ? `compiled in ${bin.compileSeconds.toFixed(1)} s` : 'from the cache'})`);
if (opts.buildOnly) {
  process.stdout.write(await runBinary(bin.path, ['selftest']));
  console.log(`built: ${bin.path}`);
  process.exit(0);
}
const deviceLine = opts.emulate ? 'CPU emulation (no GPU)' : (await runBinary(bin.path, ['device', '--device', String(opts.device)])).trim();
console.error(`device: ${deviceLine}`);

const checks = [];
function check(name, ok, result, criterion) {
  checks.push({ check: name, result, criterion, ok: ok ? 'yes' : 'NO' });
  console.error(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${result}`);
}
const fmt = (x, d = 4) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const on = opts.emulate ? ['--host'] : ['--device', String(opts.device)];

// (a) Philox and the stream layout on the device.
{
  let bad = 0;
  for (const k of PHILOX_KNOWN_ANSWERS) {
    const out = (await runBinary(bin.path, ['philox', ...[...k.key, ...k.counter].map((w) => w.toString(16)), '1', ...on])).trim();
    if (out !== k.expected.map((w) => w.toString(16).padStart(8, '0')).join(' ')) bad++;
  }
  check('(a) Philox4x32-10 known answers (Random123)', bad === 0, `${PHILOX_KNOWN_ANSWERS.length - bad}/${PHILOX_KNOWN_ANSWERS.length} equal`, 'all equal');
  const seed = String(2n ** 40n + 9n), unit = 2 ** 32 + 3, count = 4096;
  const [k0, k1] = seedKey(seed);
  const lines = (await runBinary(bin.path, ['philox', k0.toString(16), k1.toString(16), ...unitCounter(unit, 0).map((w) => w.toString(16)), String(count), ...on])).trim().split('\n');
  let diff = 0;
  for (let j = 0; j < count; j++) if (lines[j] !== Array.from(philox4x32(unitCounter(unit, j), [k0, k1]), (w) => w.toString(16).padStart(8, '0')).join(' ')) diff++;
  check('(a) Philox blocks 0…4095 of unit 2^32+3, seed 2^40+9, vs TypeScript', diff === 0, `${count - diff}/${count} bit for bit`, 'all equal');
  const z = (await runBinary(bin.path, ['normals', seed, String(unit), String(4 * count), ...on])).trim().split('\n').map(Number);
  const ref = referenceNormals(seed, unit, 4 * count);
  let worst = 0, outside = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = Math.abs(z[i] - ref[i]);
    // Float Box–Muller with the GPU's log2/sin/cos approximations: ~1e-6 relative, more near z = 0 (√ of a log's absolute error).
    const tol = Math.min(1e-3, 2e-5 * (1 + Math.abs(ref[i])) + 4e-7 / Math.max(Math.abs(ref[i]), 1e-9));
    worst = Math.max(worst, e);
    if (!(e <= tol)) outside++;
  }
  check('(a) normals 0…16383 of that unit vs the double-precision reference', outside === 0, `largest error ${worst.toExponential(2)}, ${outside} outside tolerance`, 'error ≤ 2e-5·(1 + z) + 4e-7/z, at most 1e-3 (z absolute)');
}

// (b) Closed forms.
const single = (over = {}) => ({ assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }], horizonDays: 10, steps: 10, confidenceLevels: [0.99], paths: 10_000_000, seed: 20260101, ...over });
{
  const r = await runRiskCuda(single(), engine);
  const exact = lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99);
  const l = r.levels[0];
  const okVar = Math.abs(l.valueAtRisk / exact.valueAtRisk - 1) < 0.002 && Math.abs(l.valueAtRisk - exact.valueAtRisk) < 4 * l.valueAtRiskSe;
  const okEs = Math.abs(l.expectedShortfall / exact.expectedShortfall - 1) < 0.002 && Math.abs(l.expectedShortfall - exact.expectedShortfall) < 4 * l.expectedShortfallSe;
  check('(b) 1 asset 99 % VaR vs 10.767 (10^7 paths)', okVar, `${fmt(l.valueAtRisk)} ± ${fmt(l.valueAtRiskSe)} (${fmt((l.valueAtRisk / exact.valueAtRisk - 1) * 100, 3)} %)`, 'within 0.2 % and 4 SE');
  check('(b) 1 asset 99 % ES vs 12.250 (10^7 paths)', okEs, `${fmt(l.expectedShortfall)} ± ${fmt(l.expectedShortfallSe)} (${fmt((l.expectedShortfall / exact.expectedShortfall - 1) * 100, 3)} %)`, 'within 0.2 % and 4 SE');
  const meanExact = 100 * Math.expm1((0.08 * 10) / 252);
  check('(b) 1 asset mean P&L vs S0(e^{μT} − 1)', Math.abs(r.mean - meanExact) < 4 * r.meanSe, `${fmt(r.mean)} ± ${fmt(r.meanSe)} vs ${fmt(meanExact)}`, 'within 4 SE');

  const rate = 0.05;
  const exactCall = blackScholes('call', 100, 100, rate, 0.2, 1);
  const c = await runRiskCuda(
    single({ assets: [{ id: 'S', spot: 100, drift: 0.3, volatility: 0.2, position: 0 }], options: [{ asset: 'S', type: 'call', strike: 100, expiry: 1, position: 1 }], riskFreeRate: rate, measure: 'risk-neutral', horizonDays: 252, steps: 1 }),
    engine,
  );
  const df = Math.exp(-rate);
  const price = df * (c.initialValue + c.mean), se = df * c.meanSe;
  check('(b) Black–Scholes call vs 10.4506 (10^7 paths)', Math.abs(price - exactCall) < 4 * se && Math.abs(price / exactCall - 1) < 0.001, `${fmt(price)} ± ${fmt(se)} (${fmt((price / exactCall - 1) * 100, 3)} %)`, 'within 4 SE and 0.1 %');
}

// (c) CUDA vs CPU, and (d) reproducibility, on 5 correlated assets with a repriced put and a call paying off at the horizon.
const basket = (paths, seed = 11) => ({
  assets: [100, 50, 80, 120, 30].map((spot, i) => ({ id: `A${i}`, spot, drift: 0.03 + 0.01 * i, volatility: 0.15 + 0.05 * i, position: [1, 2, -1, 1, 3][i] })),
  correlation: Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, j) => 0.4 ** Math.abs(i - j))),
  options: [
    { asset: 'A0', type: 'put', strike: 95, expiry: 0.25, position: 2 },
    { asset: 'A3', type: 'call', strike: 120, expiry: 10 / 252, position: -1 },
  ],
  horizonDays: 10,
  steps: 10,
  confidenceLevels: [0.95, 0.99, 0.999],
  paths,
  seed,
});
{
  const p = basket(2_000_000);
  const gpu = await runRiskCuda(p, engine);
  const cpu = await runRiskCpu(p);
  const z = (a, sa, b, sb) => Math.abs(a - b) / Math.hypot(sa, sb);
  const rows = [['mean', z(gpu.mean, gpu.meanSe, cpu.mean, cpu.meanSe)]];
  gpu.levels.forEach((g, i) => {
    const c = cpu.levels[i];
    rows.push([`VaR ${g.confidence}`, z(g.valueAtRisk, g.valueAtRiskSe, c.valueAtRisk, c.valueAtRiskSe)], [`ES ${g.confidence}`, z(g.expectedShortfall, g.expectedShortfallSe, c.expectedShortfall, c.expectedShortfallSe)]);
  });
  const worst = rows.reduce((a, b) => (b[1] > a[1] ? b : a));
  check('(c) CUDA vs CPU engine, 5 correlated assets + 2 options (2×10^6 paths)', rows.every(([, d]) => d < 4), `worst ${worst[0]}: ${fmt(worst[1], 2)} combined SE (mean ${fmt(gpu.mean)} vs ${fmt(cpu.mean)})`, 'all within 4 combined SE');

  const again = await runRiskCuda(p, engine);
  const other = await runRiskCuda(basket(2_000_000, 12), engine);
  check('(d) same seed twice: bitwise-identical JSON; another seed differs', JSON.stringify(again) === JSON.stringify(gpu) && JSON.stringify(other) !== JSON.stringify(gpu), JSON.stringify(again) === JSON.stringify(gpu) ? 'identical' : 'DIFFERENT', 'identical');

  const portfolio = validatePortfolio(p);
  const model = compileModel(portfolio);
  const keep = tailKeep(model.paths, portfolio.confidenceLevels);
  const hist = histogramSpec(model);
  const cut = Math.floor(model.blocks / 3);
  const whole = finishRun(portfolio, model, keep, hist, [await simulateRangeCuda(model, keep, hist, 0, model.blocks, engine)]);
  const split = finishRun(portfolio, model, keep, hist, [await simulateRangeCuda(model, keep, hist, cut, model.blocks, { ...engine, chunkBlocks: 97 }), await simulateRangeCuda(model, keep, hist, 0, cut, engine)]);
  check('(d) 2 ranges (one in chunks of 97 blocks) merged by finishRun = 1 range', JSON.stringify(split) === JSON.stringify(whole) && JSON.stringify(whole) === JSON.stringify(gpu), JSON.stringify(split) === JSON.stringify(whole) ? 'bitwise equal' : 'DIFFERENT', 'bitwise equal');
}

// (e) Throughput.
const rows = [];
const results = { device: deviceLine, engine: bin.path, checks, throughput: [] };
if (!opts.emulate) {
  const ROUNDS = 3;
  const oneAsset = (antithetic) => ({ assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }], horizonDays: 252, steps: 252, paths: 100_000_000, seed: 1, antithetic });
  const tenAssets = {
    assets: Array.from({ length: 10 }, (_, i) => ({ id: `A${i}`, spot: 100, drift: 0.05, volatility: 0.15 + 0.02 * i, position: 1 })),
    correlation: Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 1 : 0.3))),
    horizonDays: 252,
    steps: 252,
    paths: 10_000_000,
    seed: 1,
  };
  const cases = [
    { name: '1 asset, 10^8 paths × 252 steps (antithetic pairs, levels 95/99/99.9 %)', input: oneAsset(true), unit: 'path-steps/s', target: 5e11 },
    { name: '10 correlated assets, 10^7 paths × 252 steps (antithetic pairs)', input: tenAssets, unit: 'asset-steps/s', target: 4e11 },
    { name: '1 asset, 10^8 × 252, no antithetic pairs (one normal per path-step)', input: oneAsset(false), unit: 'path-steps/s', target: undefined },
  ];
  for (const c of cases) {
    const portfolio = validatePortfolio(c.input);
    const model = compileModel(portfolio);
    const keep = tailKeep(model.paths, portfolio.confidenceLevels);
    const hist = histogramSpec(model);
    const runs = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      const { output, timing } = await simulateRangeCudaTimed(model, keep, hist, 0, model.blocks, engine);
      runs.push({ seconds: output.seconds, wall: (performance.now() - t) / 1000, timing });
    }
    runs.sort((a, b) => a.seconds - b.seconds);
    const med = runs[Math.floor(ROUNDS / 2)];
    const work = model.paths * model.steps * (c.unit === 'asset-steps/s' ? model.assets : 1);
    const rate = work / med.seconds;
    const t = med.timing;
    rows.push({
      benchmark: c.name,
      result: `${(rate / 1e11).toFixed(2)}×10^11 ${c.unit}; ${med.seconds.toFixed(4)} s (simulate ${fmt(t.simulateSeconds, 4)}, tail select ${fmt(t.selectSeconds, 4)} ×${t.selections}, sort + copy ${fmt(t.finishSeconds, 4)}); runs ${runs.map((r) => r.seconds.toFixed(4)).join(', ')}; with process start and I/O ${med.wall.toFixed(2)} s`,
      target: c.target === undefined ? 'record' : `≥ ${c.target / 1e11}×10^11 ${c.unit}`,
    });
    results.throughput.push({ name: c.name, paths: model.paths, steps: model.steps, assets: model.assets, antithetic: model.antithetic, keep, rate, unit: c.unit, target: c.target ?? null, runs });
    if (c.target !== undefined) check(`(e) ${c.name}`, rate >= c.target, `${(rate / 1e11).toFixed(2)}×10^11 ${c.unit}`, `≥ ${c.target / 1e11}×10^11`);
  }
}

const failed = checks.filter((c) => c.ok !== 'yes').length;
console.log(`\nCUDA risk engine on ${deviceLine} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
const checkTable = printTable(checks);
let table = checkTable;
if (rows.length > 0) {
  console.log('');
  table = `${checkTable}\n\n${printTable(rows)}`;
}
if (!opts.emulate) record('gpu-check', 'bench/gpu-check', `Device: ${deviceLine}\n\n${table}`, results);
console.log(failed === 0 ? '\nall checks passed' : `\n${failed} check(s) FAILED`);
process.exitCode = failed === 0 ? 0 : 1;
