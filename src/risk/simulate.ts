/**
 * The simulation kernel: correlated geometric Brownian motion stepped in log space, one block of
 * paths at a time, into per-path P&L. Pure (no I/O): the worker threads and the main-thread fallback
 * run exactly this code, so where a block runs never changes its numbers.
 *
 * Per step and asset: x_i += (μ_i − σ_i²/2)Δt + σ_i√Δt · (L z)_i, with z standard normals and L the
 * Cholesky factor. With antithetic variates each pair of paths shares one set of normals, the second
 * path using −z; that halves the normals drawn and cancels the odd-order error terms of symmetric
 * payoffs. At the horizon S_i = S_i(0)·e^{x_i}; the P&L is the change in value of the stock
 * positions plus that of the options (payoff at expiry, Black–Scholes with the time left otherwise).
 * The single-asset antithetic case runs a fused walk (`walkPairs1d`: normals drawn inside the step
 * loop); it consumes the same normals in the same order, so its numbers equal the general walk's.
 */
import { blackScholes } from './closed-forms.js';
import { fillNormals, streamState, walkPairs1d } from './rng.js';
import { blockPaths, type SimulationModel } from './model.js';

/** The most normals drawn into the buffer at once (a pair's worth at least): 64 KiB, cache-resident. */
const NORMAL_CHUNK = 8192;

export interface Scratch {
  seed: bigint;
  state: Uint32Array;
  normals: Float64Array;
  xPlus: Float64Array;
  xMinus: Float64Array;
  prices: Float64Array;
  pairPlus: Float64Array;
  pairMinus: Float64Array;
}

export function createScratch(m: SimulationModel): Scratch {
  const perPair = m.steps * m.assets;
  return {
    seed: BigInt(m.seed),
    state: new Uint32Array(4),
    normals: new Float64Array(Math.max(perPair, Math.floor(NORMAL_CHUNK / perPair) * perPair)),
    xPlus: new Float64Array(m.assets),
    xMinus: new Float64Array(m.assets),
    prices: new Float64Array(m.assets),
    pairPlus: new Float64Array(m.blockSize / 2),
    pairMinus: new Float64Array(m.blockSize / 2),
  };
}

/** P&L of one path from its terminal log-returns `x`. */
function pathPnl(m: SimulationModel, x: Float64Array, prices: Float64Array): number {
  const spot = m.spot, units = m.units, options = m.options;
  let pnl = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = spot[i]!;
    const s = s0 * Math.exp(x[i]!);
    prices[i] = s;
    pnl += units[i]! * (s - s0);
  }
  for (let k = 0; k < options.length; k++) {
    const o = options[k]!;
    const v = blackScholes(o.call ? 'call' : 'put', prices[o.asset]!, o.strike, m.rate, o.vol, o.remainingYears);
    pnl += o.position * v - o.initialValue;
  }
  return pnl;
}

/**
 * Simulates block `b` into pnl[0, count) and returns count. When `logReturns` is given, it also
 * receives each path's terminal log-returns (count × assets, row-major), for diagnostics and tests.
 */
export function simulateBlock(m: SimulationModel, b: number, s: Scratch, pnl: Float64Array, logReturns?: Float64Array): number {
  const count = blockPaths(m, b);
  const d = m.assets;
  const steps = m.steps;
  const perSet = steps * d;
  const sets = m.antithetic ? count / 2 : count;
  const setsPerChunk = Math.floor(s.normals.length / perSet);
  const z = s.normals;
  const xp = s.xPlus;
  const xm = s.xMinus;
  streamState(s.seed, b, s.state);
  if (d === 1 && m.antithetic && !logReturns) {
    // The common single-asset case, fused: pair k's two terminal log-returns land in xPlus/xMinus[k].
    const pairs = count / 2;
    const xa = s.pairPlus, xb = s.pairMinus;
    walkPairs1d(s.state, pairs, steps, m.stepDrift[0]!, m.stepVol[0]!, xa, xb);
    for (let k = 0; k < pairs; k++) {
      xp[0] = xa[k]!;
      pnl[2 * k] = pathPnl(m, xp, s.prices);
      xm[0] = xb[k]!;
      pnl[2 * k + 1] = pathPnl(m, xm, s.prices);
    }
    return count;
  }
  let path = 0;
  for (let set0 = 0; set0 < sets; set0 += setsPerChunk) {
    const setsNow = Math.min(setsPerChunk, sets - set0);
    fillNormals(s.state, z, 0, setsNow * perSet);
    for (let k = 0; k < setsNow; k++) {
      const o = k * perSet;
      if (d === 1) {
        // One asset: no Cholesky, the hot loop is two fused multiply-adds per step.
        const mu = m.stepDrift[0]!;
        const sig = m.stepVol[0]!;
        let a = 0;
        let c = 0;
        for (let t = 0; t < steps; t++) {
          const e = sig * z[o + t]!;
          a += mu + e;
          c += mu - e;
        }
        xp[0] = a;
        xm[0] = c;
      } else {
        xp.fill(0);
        xm.fill(0);
        for (let t = 0; t < steps; t++) {
          const zo = o + t * d;
          for (let i = 0; i < d; i++) {
            let y = 0;
            const li = i * d;
            for (let j = 0; j <= i; j++) y += m.lower[li + j]! * z[zo + j]!;
            const e = m.stepVol[i]! * y;
            xp[i] = xp[i]! + m.stepDrift[i]! + e;
            xm[i] = xm[i]! + m.stepDrift[i]! - e;
          }
        }
      }
      pnl[path] = pathPnl(m, xp, s.prices);
      if (logReturns) logReturns.set(xp, path * d);
      path++;
      if (m.antithetic) {
        pnl[path] = pathPnl(m, xm, s.prices);
        if (logReturns) logReturns.set(xm, path * d);
        path++;
      }
    }
  }
  return count;
}
