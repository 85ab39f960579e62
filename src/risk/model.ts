/**
 * A validated portfolio compiled once into the plain-data form the simulation reads: per-step log
 * drifts and volatilities, the Cholesky factor, positions and their values today. Plain arrays and
 * numbers only, so it crosses to worker threads by structured clone unchanged.
 *
 * Path layout (part of the reproducibility contract): paths are numbered 0 … paths−1 and grouped in
 * blocks of BLOCK_SIZE; block b draws every normal of its paths from RNG stream b of the seed
 * (`streamState(seed, b)`), in path order (for antithetic pairs, one set per pair), step by step, asset
 * by asset. Shards are ranges of whole blocks, so no result depends on how blocks are split over
 * shards or workers. Changing BLOCK_SIZE changes every result for a seed.
 */
import { blackScholes } from './closed-forms.js';
import { cholesky } from './cholesky.js';
import type { Portfolio } from './portfolio.js';

export const BLOCK_SIZE = 1024;

export interface OptionLeg {
  asset: number;
  call: boolean;
  strike: number;
  /** Years from the horizon to expiry (0: the option expires at the horizon and pays its payoff). */
  remainingYears: number;
  position: number;
  vol: number;
  /** The position's value today (Black–Scholes), subtracted from its value at the horizon. */
  initialValue: number;
}

export interface SimulationModel {
  /** The seed as a decimal string (BigInt does not cross postMessage in every runtime the same way). */
  seed: string;
  paths: number;
  blocks: number;
  blockSize: number;
  steps: number;
  assets: number;
  /** Per asset: (μ − σ²/2)·Δt, with μ the drift or the risk-free rate under `risk-neutral`. */
  stepDrift: number[];
  /** Per asset: σ·√Δt. */
  stepVol: number[];
  /** Row-major lower Cholesky factor of the correlation matrix, assets × assets. */
  lower: number[];
  spot: number[];
  /** Units of each asset held directly. */
  units: number[];
  options: OptionLeg[];
  rate: number;
  horizonYears: number;
  antithetic: boolean;
  /** Today's value of the whole portfolio (stocks plus options). */
  initialValue: number;
}

export function compileModel(p: Portfolio): SimulationModel {
  const n = p.assets.length;
  const horizonYears = p.horizonDays / p.daysPerYear;
  const dt = horizonYears / p.steps;
  const corr = p.correlation ?? [[1]];
  const lower = Array.from(cholesky(corr.flat(), n).lower);
  const index = new Map(p.assets.map((a, i) => [a.id, i]));
  const options: OptionLeg[] = p.options.map((o) => {
    const asset = index.get(o.asset)!;
    const a = p.assets[asset]!;
    // An expiry within rounding of the horizon is the horizon: the option pays its payoff there.
    const remainingYears = Math.max(0, o.expiry - horizonYears) < 1e-12 ? 0 : o.expiry - horizonYears;
    return {
      asset,
      call: o.type === 'call',
      strike: o.strike,
      remainingYears,
      position: o.position,
      vol: a.volatility,
      initialValue: o.position * blackScholes(o.type, a.spot, o.strike, p.riskFreeRate, a.volatility, o.expiry),
    };
  });
  const initialValue = p.assets.reduce((s, a) => s + a.position * a.spot, 0) + options.reduce((s, o) => s + o.initialValue, 0);
  return {
    seed: String(p.seed),
    paths: p.paths,
    blocks: Math.ceil(p.paths / BLOCK_SIZE),
    blockSize: BLOCK_SIZE,
    steps: p.steps,
    assets: n,
    stepDrift: p.assets.map((a) => ((p.measure === 'risk-neutral' ? p.riskFreeRate : a.drift) - 0.5 * a.volatility ** 2) * dt),
    stepVol: p.assets.map((a) => a.volatility * Math.sqrt(dt)),
    lower,
    spot: p.assets.map((a) => a.spot),
    units: p.assets.map((a) => a.position),
    options,
    rate: p.riskFreeRate,
    horizonYears,
    antithetic: p.antithetic,
    initialValue,
  };
}

/** Paths in block `b` (the last block may be short). */
export function blockPaths(m: SimulationModel, b: number): number {
  return Math.min(m.blockSize, m.paths - b * m.blockSize);
}
