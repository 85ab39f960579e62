/**
 * Estimators and their standard errors, from a merged run.
 *
 * Conventions: a loss is −P&L; VaR at level α is the empirical α-quantile of the loss, the order
 * statistic of rank ⌈αN⌉ (the ⌊N(1−α)⌋-th largest, counting from 0); ES is the Acerbi–Tasche
 * estimator, the average of the N(1−α) largest losses with the boundary one weighted fractionally.
 *
 * Standard errors (each also given as a 95 % normal confidence interval, ±1.96 SE):
 * - mean: from the sample variance of independent units (antithetic pairs' means, or single paths);
 * - VaR: the asymptotic quantile variance α(1−α)/(N f(q)²), with the loss density f at the quantile
 *   estimated from order-statistic spacings (Siddiqui–Bloch–Gastwirth: f ≈ (2h/N)/(L₍j−h₎ − L₍j+h₎),
 *   h = ⌈√(N(1−α))⌉);
 * - ES: the asymptotic variance (Var(L | L ≥ q) + α(ES − q)²)/(N(1−α)), with the tail variance taken
 *   from the tail sample.
 * The VaR and ES formulas assume independent paths. Antithetic partners are dependent, but a path in
 * the loss tail has its partner in the opposite tail, so tail indicators of partners are nearly
 * uncorrelated (covariance −(1−α)²) and the iid formulas hold to that order, slightly conservatively.
 */
import { BLOCK_STAT_FIELDS, type HistogramSpec, type MergedRun } from './tail-merge.js';

/** N(1 − α), snapped to an integer when rounding in 1 − α moved it off one (1e7·(1 − 0.99) = 100000.00000000001). */
export function tailSize(paths: number, confidence: number): number {
  const w = paths * (1 - confidence);
  const r = Math.round(w);
  return Math.abs(w - r) <= 1e-9 * Math.max(1, w) ? r : w;
}

/** Order statistics either side of the VaR's for the density estimate. */
export function bandwidth(paths: number, confidence: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(tailSize(paths, confidence))));
}

/** How many of the largest losses each shard must keep for exact VaR, ES and their standard errors at every level. */
export function tailKeep(paths: number, levels: readonly number[]): number {
  const need = Math.max(...levels.map((c) => Math.floor(tailSize(paths, c)) + bandwidth(paths, c) + 2));
  return Math.min(paths, need);
}

export interface LevelEstimate {
  confidence: number;
  valueAtRisk: number;
  valueAtRiskSe: number;
  valueAtRiskCi95: [number, number];
  expectedShortfall: number;
  expectedShortfallSe: number;
  expectedShortfallCi95: [number, number];
}

const Z95 = 1.959963984540054;

/** VaR, ES and their standard errors at `confidence`, from the run's largest losses in descending order. */
export function levelEstimate(tail: Float64Array, paths: number, confidence: number): LevelEstimate {
  const w = tailSize(paths, confidence);
  const j = Math.floor(w);
  const h = bandwidth(paths, confidence);
  if (j >= tail.length) throw new RangeError(`levelEstimate: ${tail.length} tail losses kept, ${j + 1} needed`);
  const q = tail[j]!;
  // In tiny runs the window may reach past the kept losses (which are then all the paths): clamp it.
  const lo = Math.max(0, j - h);
  const hi = Math.min(j + h, tail.length - 1);
  const spread = tail[lo]! - tail[hi]!;
  // No spread (tied losses, e.g. options that all expire worthless): the density, and so the SE, is unknown (NaN, null in JSON).
  const varSe = spread > 0 ? Math.sqrt((confidence * (1 - confidence)) / paths) / ((hi - lo) / paths / spread) : Number.NaN;

  let sum = 0;
  for (let i = 0; i < j; i++) sum += tail[i]!;
  const es = (sum + (w - j) * q) / w;
  let ss = 0;
  for (let i = 0; i < j; i++) ss += (tail[i]! - es) ** 2;
  const tailVar = j > 1 ? ss / (j - 1) : 0;
  const esSe = Math.sqrt((tailVar + confidence * (es - q) ** 2) / (paths * (1 - confidence)));
  return {
    confidence,
    valueAtRisk: q,
    valueAtRiskSe: varSe,
    valueAtRiskCi95: [q - Z95 * varSe, q + Z95 * varSe],
    expectedShortfall: es,
    expectedShortfallSe: esSe,
    expectedShortfallCi95: [es - Z95 * esSe, es + Z95 * esSe],
  };
}

export interface Moments {
  paths: number;
  mean: number;
  standardDeviation: number;
  meanSe: number;
}

export interface RiskSummary {
  paths: number;
  initialValue: number;
  mean: number;
  standardDeviation: number;
  meanSe: number;
  levels: LevelEstimate[];
  histogram: { min: number; binWidth: number; counts: number[]; underflow: number; overflow: number };
  /** Standard error of the mean after the first 2^k blocks, and after all of them: it should fall as N^(−1/2). */
  convergence: { paths: number; meanSe: number }[];
  varianceReduction: string[];
}

export function summarize(run: MergedRun, levels: readonly number[], hist: HistogramSpec, antithetic: boolean, initialValue: number, blockSize: number): RiskSummary {
  const mom = moments(run.blockStats, run.blocks, antithetic);
  const convergence: { paths: number; meanSe: number }[] = [];
  for (let b = 1; ; b *= 2) {
    const blocks = Math.min(b, run.blocks);
    const m = moments(run.blockStats, blocks, antithetic);
    if (m.paths >= 2 * (antithetic ? 2 : 1)) convergence.push({ paths: blocks === run.blocks ? run.paths : blocks * blockSize, meanSe: m.meanSe });
    if (blocks === run.blocks) break;
  }
  const counts = Array.from(run.histogram);
  return {
    paths: run.paths,
    initialValue,
    mean: mom.mean,
    standardDeviation: mom.standardDeviation,
    meanSe: mom.meanSe,
    levels: [...levels].sort((a, b) => a - b).map((c) => levelEstimate(run.tail, run.paths, c)),
    histogram: { min: hist.min, binWidth: hist.width, counts: counts.slice(1, -1), underflow: counts[0]!, overflow: counts[counts.length - 1]! },
    convergence,
    varianceReduction: antithetic ? ['antithetic'] : [],
  };
}

/** Mean, standard deviation and the mean's standard error over blocks [0, blocks), summed in block order. */
export function moments(stats: Float64Array, blocks: number, antithetic: boolean): Moments {
  let s = 0, s2 = 0, u = 0, u2 = 0, nu = 0;
  for (let b = 0; b < blocks; b++) {
    const o = b * BLOCK_STAT_FIELDS;
    s += stats[o]!;
    s2 += stats[o + 1]!;
    u += stats[o + 2]!;
    u2 += stats[o + 3]!;
    nu += stats[o + 4]!;
  }
  const n = antithetic ? 2 * nu : nu;
  const mean = s / n;
  const variance = Math.max(0, (s2 - s * mean) / (n - 1));
  const unitVar = Math.max(0, (u2 - (u * u) / nu) / (nu - 1));
  return { paths: n, mean, standardDeviation: Math.sqrt(variance), meanSe: Math.sqrt(unitVar / nu) };
}
