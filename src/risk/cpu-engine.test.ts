/**
 * The CPU engine's done-when checks against closed forms, on worker threads. Tolerances come from
 * the estimators' standard errors or from the issue; expected values from closed-forms.ts, never
 * from earlier runs of the engine.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blackScholes, lognormalVarEs } from './closed-forms.js';
import { runRiskCpu, type CpuEngineOptions, type RiskRunResult } from './cpu-engine.js';
import { compileModel } from './model.js';
import { validatePortfolio, type PortfolioInput } from './portfolio.js';
import { createScratch, simulateBlock } from './simulate.js';

// Workers load plain JavaScript, and vitest transforms TypeScript only on its own threads, so the
// risk modules are transpiled (TypeScript's own transpiler, no type check) into a scratch folder
// under node_modules/.cache for the workers of this file. Production runs use dist/risk/cpu-worker.js.
const here = path.dirname(fileURLToPath(import.meta.url));
const scratch = path.resolve(here, '../../node_modules/.cache', `gpuq-risk-worker-${process.pid}`, 'risk');
let engine: CpuEngineOptions;
beforeAll(() => {
  mkdirSync(scratch, { recursive: true });
  for (const f of readdirSync(here).filter((n) => n.endsWith('.ts') && !n.endsWith('.test.ts'))) {
    const js = ts.transpileModule(readFileSync(path.join(here, f), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true } }).outputText;
    writeFileSync(path.join(scratch, f.replace(/\.ts$/, '.js')), js);
  }
  engine = { workers: 2, workerUrl: pathToFileURL(path.join(scratch, 'cpu-worker.js')) };
});
afterAll(() => rmSync(path.dirname(scratch), { recursive: true, force: true }));

const single = (over: Partial<PortfolioInput> = {}): PortfolioInput => ({
  assets: [{ id: 'S', spot: 100, drift: 0.08, volatility: 0.25, position: 1 }],
  horizonDays: 10,
  steps: 10,
  confidenceLevels: [0.99],
  paths: 1_000_000,
  seed: 20260101,
  ...over,
});

describe('single asset vs the lognormal closed form (10^7 paths)', () => {
  it('VaR and ES at 99 % within 0.2 % of 10.767 and 12.250, and within 4 standard errors', async () => {
    const r = await runRiskCpu(single({ paths: 10_000_000 }), engine);
    const exact = lognormalVarEs(100, 0.08, 0.25, 10 / 252, 0.99);
    const l = r.levels[0]!;
    expect(Math.abs(l.valueAtRisk / exact.valueAtRisk - 1)).toBeLessThan(0.002);
    expect(Math.abs(l.expectedShortfall / exact.expectedShortfall - 1)).toBeLessThan(0.002);
    expect(Math.abs(l.valueAtRisk - exact.valueAtRisk)).toBeLessThan(4 * l.valueAtRiskSe);
    expect(Math.abs(l.expectedShortfall - exact.expectedShortfall)).toBeLessThan(4 * l.expectedShortfallSe);
    // The mean P&L is S0·(e^{μT} − 1).
    expect(Math.abs(r.mean - 100 * Math.expm1(0.08 * 10 / 252))).toBeLessThan(4 * r.meanSe);
    expect(r.varianceReduction).toEqual(['antithetic']);
  });
});

describe('risk-neutral pricing checks', () => {
  const T = 1;
  const rate = 0.05;

  it('European call S = K = 100, r = 5 %, σ = 20 %, T = 1 vs Black–Scholes 10.4506: within 4 SE and 0.1 %', async () => {
    const exact = blackScholes('call', 100, 100, rate, 0.2, T);
    // GBM's log-step is exact, so one step per path prices a European payoff without discretization bias.
    const r = await runRiskCpu(
      single({ assets: [{ id: 'S', spot: 100, drift: 0.3, volatility: 0.2, position: 0 }], options: [{ asset: 'S', type: 'call', strike: 100, expiry: T, position: 1 }], riskFreeRate: rate, measure: 'risk-neutral', horizonDays: 252, steps: 1, paths: 10_000_000 }),
      engine,
    );
    const df = Math.exp(-rate * T);
    const price = df * (r.initialValue + r.mean);
    const se = df * r.meanSe;
    expect(Math.abs(price - exact)).toBeLessThan(4 * se);
    expect(Math.abs(price / exact - 1)).toBeLessThan(0.001);
  });

  it('martingale: E[e^{−rT} S_T] = S0 within 3 standard errors (12 steps, the drift under Q is r, not μ)', async () => {
    const r = await runRiskCpu(single({ riskFreeRate: rate, measure: 'risk-neutral', horizonDays: 252, steps: 12, paths: 2_000_000 }), engine);
    const df = Math.exp(-rate * T);
    expect(Math.abs(df * (r.initialValue + r.mean) - 100)).toBeLessThan(3 * df * r.meanSe);
  });
});

describe('correlation', () => {
  it('recovers the input correlations from simulated returns within 4(1 − ρ²)/√N', () => {
    const rho = [[1, 0.6, -0.3], [0.6, 1, 0.2], [-0.3, 0.2, 1]];
    // Without antithetic pairs, so the N returns are independent (a pair's ±z give the same products).
    const p = validatePortfolio({
      assets: [0, 1, 2].map((i) => ({ id: `A${i}`, spot: 100, drift: 0.05, volatility: 0.1 + 0.1 * i, position: 1 })),
      correlation: rho,
      horizonDays: 20,
      steps: 4,
      paths: 200 * 1024,
      seed: 9,
      antithetic: false,
    });
    const m = compileModel(p);
    const s = createScratch(m);
    const pnl = new Float64Array(m.blockSize);
    const x = new Float64Array(m.blockSize * 3);
    const sums = new Float64Array(3), prods = new Float64Array(9);
    for (let b = 0; b < m.blocks; b++) {
      const n = simulateBlock(m, b, s, pnl, x);
      for (let k = 0; k < n; k++) for (let i = 0; i < 3; i++) {
        sums[i]! += x[k * 3 + i]!;
        for (let j = 0; j < 3; j++) prods[i * 3 + j]! += x[k * 3 + i]! * x[k * 3 + j]!;
      }
    }
    const N = m.paths;
    const cov = (i: number, j: number) => prods[i * 3 + j]! / N - (sums[i]! / N) * (sums[j]! / N);
    for (let i = 0; i < 3; i++) for (let j = 0; j < i; j++) {
      const r = cov(i, j) / Math.sqrt(cov(i, i) * cov(j, j));
      const target = rho[i]![j]!;
      expect(Math.abs(r - target)).toBeLessThan((4 * (1 - target ** 2)) / Math.sqrt(N));
    }
  });
});

describe('convergence', () => {
  it('standard errors fall as N^(−1/2): log-log slope −0.5 ± 0.05 for the mean, VaR and ES', async () => {
    const sizes = [2 ** 14, 2 ** 16, 2 ** 18, 2 ** 20, 2 ** 22];
    const runs: RiskRunResult[] = [];
    for (const paths of sizes) runs.push(await runRiskCpu(single({ paths, seed: 77 }), engine));
    const slope = (ys: number[]) => {
      const xs = sizes.map(Math.log);
      const ly = ys.map(Math.log);
      const mx = xs.reduce((a, b) => a + b) / xs.length, my = ly.reduce((a, b) => a + b) / ly.length;
      return xs.reduce((s, x, i) => s + (x - mx) * (ly[i]! - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
    };
    expect(slope(runs.map((r) => r.meanSe))).toBeCloseTo(-0.5, 1);
    for (const pick of [(r: RiskRunResult) => r.meanSe, (r: RiskRunResult) => r.levels[0]!.valueAtRiskSe, (r: RiskRunResult) => r.levels[0]!.expectedShortfallSe]) {
      expect(Math.abs(slope(runs.map(pick)) + 0.5)).toBeLessThan(0.05);
    }
    // The run's own diagnostics (the mean's SE after 2^k blocks) show the same rate.
    const conv = runs[runs.length - 1]!.convergence.filter((c) => c.paths >= 2 ** 14);
    const first = conv[0]!, last = conv[conv.length - 1]!;
    expect(Math.log(last.meanSe / first.meanSe) / Math.log(last.paths / first.paths)).toBeCloseTo(-0.5, 1);
  });
});

describe('reproducibility', () => {
  const multi = (seed: number): PortfolioInput => ({
    assets: [
      { id: 'A', spot: 100, drift: 0.08, volatility: 0.25, position: 1 },
      { id: 'B', spot: 30, drift: 0.03, volatility: 0.45, position: -2 },
    ],
    correlation: [[1, 0.3], [0.3, 1]],
    options: [{ asset: 'A', type: 'put', strike: 95, expiry: 0.25, position: 2 }],
    horizonDays: 10,
    steps: 10,
    confidenceLevels: [0.95, 0.99, 0.999],
    paths: 1_000_000,
    seed,
  });

  it('the same seed gives bitwise-identical results; another seed does not', async () => {
    const a = JSON.stringify(await runRiskCpu(multi(5), engine));
    const b = JSON.stringify(await runRiskCpu(multi(5), engine));
    const c = JSON.stringify(await runRiskCpu(multi(6), engine));
    expect(b).toBe(a);
    expect(c).not.toBe(a);
  });

  it('sharded over 2 workers (shards of 5 blocks) equals one unsharded shard on the calling thread, exactly', async () => {
    const sharded = await runRiskCpu(multi(5), { ...engine, blocksPerShard: 5 });
    const unsharded = await runRiskCpu(multi(5), { workers: 0, blocksPerShard: Number.MAX_SAFE_INTEGER });
    expect(sharded.devices).toEqual(['cpu ×2 threads']);
    expect(unsharded.devices).toEqual(['cpu ×1 thread']);
    expect(JSON.stringify({ ...sharded, devices: [] })).toBe(JSON.stringify({ ...unsharded, devices: [] }));
    expect(sharded.levels.map((l) => l.confidence)).toEqual([0.95, 0.99, 0.999]);
  });
});
