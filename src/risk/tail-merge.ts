/**
 * What a shard of blocks reports, and the exact reduce of shard reports into one run.
 *
 * Exactness, whatever the split into shards:
 * - Moments: each block's sums are taken in path order and kept per block; the reduce adds the
 *   blocks' sums in block order. Every addition happens in the same order as in an unsharded run, so
 *   mean and standard deviation agree bit for bit.
 * - Tail: every shard keeps its `keep` largest losses, `keep` ≥ the tail size of the lowest confidence
 *   level over the whole run plus the order statistics the VaR standard error reads. The run's `keep`
 *   largest losses are then among the union of the shards' (any one shard may hold all of them), so
 *   VaR and ES come from exactly the order statistics an unsharded run sees.
 * - Histogram: bin edges fixed before the run (from the seed's first block), counts added.
 */
import { simulateBlock, createScratch } from './simulate.js';
import type { SimulationModel } from './model.js';

/** Fixed-width bins over [min, min + width·bins); out-of-range values counted apart. */
export interface HistogramSpec {
  min: number;
  width: number;
  bins: number;
}

/** Per-block statistics, 5 numbers per block. */
export const BLOCK_STAT_FIELDS = 5;
// [sum of P&L, sum of P&L², sum of unit means, sum of unit means², units]; a unit is an antithetic
// pair (its mean P&L) or, without antithetic variates, a single path. Units are independent, so the
// standard error of the mean is computed from them.

export interface ShardSummary {
  firstBlock: number;
  endBlock: number;
  paths: number;
  blockStats: Float64Array;
  /** [underflow, bin 0 … bin bins−1, overflow]. */
  histogram: Float64Array;
}

/**
 * Keeps the `keep` largest values seen. Callers test `v > threshold` before `push` (inline, so the
 * common case, a value that cannot be in the tail, costs one comparison): `threshold` is −∞ until
 * `keep` values are held, then the smallest value held after the last compaction.
 */
export class TopK {
  private buf: Float64Array;
  private n = 0;
  threshold = -Infinity;
  constructor(private readonly keep: number) {
    // 4·keep: each compaction then discards at least 3·keep values, so selections stay rare.
    this.buf = new Float64Array(Math.max(4 * keep, 16));
  }
  push(v: number): void {
    this.buf[this.n++] = v;
    if (this.n === this.buf.length) this.compact();
  }
  /** Moves the `keep` largest to the front in O(n) (selection, not a sort) and raises the threshold to their minimum. */
  private compact(): void {
    const t = this.n - this.keep;
    selectNth(this.buf, 0, this.n - 1, t);
    this.buf.copyWithin(0, t, this.n);
    this.n = this.keep;
    this.threshold = this.buf[0]!;
  }
  /** The kept values, largest first (at most `keep`). */
  result(): Float64Array {
    if (this.n > this.keep) selectNth(this.buf, 0, this.n - 1, this.n - this.keep);
    const kept = this.buf.slice(Math.max(0, this.n - this.keep), this.n);
    sortAscending(kept, 0, kept.length - 1);
    return kept.reverse();
  }
}

/**
 * Wirth's selection (Hoare partitioning): rearranges a[lo..hi] so that a[k] holds the value it would
 * have sorted, with no larger value before it and no smaller value after it.
 */
function selectNth(a: Float64Array, lo: number, hi: number, k: number): void {
  while (hi > lo) {
    const p = a[lo]!, q = a[(lo + hi) >> 1]!, r = a[hi]!;
    const x = p < q ? (q < r ? q : p < r ? r : p) : p < r ? p : q < r ? r : q; // median of three
    let i = lo, j = hi;
    do {
      while (a[i]! < x) i++;
      while (x < a[j]!) j--;
      if (i <= j) {
        const tmp = a[i]!;
        a[i] = a[j]!;
        a[j] = tmp;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) lo = i;
    if (k < i) hi = j;
  }
}

/**
 * In-place quicksort of a[lo..hi] (Hoare partitions, median of three, insertion sort below 16,
 * recursing into the smaller side). About 3× faster than Float64Array.prototype.sort on V8 for the
 * 10^5–10^6 tail values a run keeps; the order is the same (ascending numeric, no NaN here).
 */
export function sortAscending(a: Float64Array, lo: number, hi: number): void {
  while (hi - lo > 16) {
    const p = a[lo]!, q = a[(lo + hi) >> 1]!, r = a[hi]!;
    const x = p < q ? (q < r ? q : p < r ? r : p) : p < r ? p : q < r ? r : q;
    let i = lo, j = hi;
    do {
      while (a[i]! < x) i++;
      while (x < a[j]!) j--;
      if (i <= j) {
        const tmp = a[i]!;
        a[i] = a[j]!;
        a[j] = tmp;
        i++;
        j--;
      }
    } while (i <= j);
    if (j - lo < hi - i) {
      sortAscending(a, lo, j);
      lo = i;
    } else {
      sortAscending(a, i, hi);
      hi = j;
    }
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Simulates blocks [firstBlock, endBlock) and summarizes them; their losses go into `top`, which a
 * worker keeps across all the shards it runs (one tail per worker, not per shard: fewer values to
 * select and merge). Pure; run in a worker or inline.
 */
export function simulateShard(m: SimulationModel, firstBlock: number, endBlock: number, hist: HistogramSpec, top: TopK): ShardSummary {
  const scratch = createScratch(m);
  const pnl = new Float64Array(m.blockSize);
  const blockStats = new Float64Array((endBlock - firstBlock) * BLOCK_STAT_FIELDS);
  const histogram = new Float64Array(hist.bins + 2);
  const { min, bins } = hist;
  const perWidth = 1 / hist.width;
  let paths = 0;
  for (let b = firstBlock; b < endBlock; b++) {
    const count = simulateBlock(m, b, scratch, pnl);
    let sum = 0, sumSq = 0, uSum = 0, uSumSq = 0;
    let threshold = top.threshold; // a local: the property is re-read only when a push may have raised it
    for (let i = 0; i < count; i++) {
      const v = pnl[i]!;
      sum += v;
      sumSq += v * v;
      const bin = Math.floor((v - min) * perWidth);
      histogram[bin < 0 ? 0 : bin >= bins ? bins + 1 : bin + 1]! += 1;
      if (-v > threshold) {
        top.push(-v);
        threshold = top.threshold;
      }
    }
    if (m.antithetic) {
      for (let i = 0; i < count; i += 2) {
        const u = 0.5 * (pnl[i]! + pnl[i + 1]!);
        uSum += u;
        uSumSq += u * u;
      }
    } else {
      uSum = sum;
      uSumSq = sumSq;
    }
    const o = (b - firstBlock) * BLOCK_STAT_FIELDS;
    blockStats[o] = sum;
    blockStats[o + 1] = sumSq;
    blockStats[o + 2] = uSum;
    blockStats[o + 3] = uSumSq;
    blockStats[o + 4] = m.antithetic ? count / 2 : count;
    paths += count;
  }
  return { firstBlock, endBlock, paths, blockStats, histogram };
}

export interface MergedRun {
  paths: number;
  blocks: number;
  /** All blocks' statistics in block order. */
  blockStats: Float64Array;
  histogram: Float64Array;
  /** The run's `keep` largest losses, descending. */
  tail: Float64Array;
}

/**
 * The exact reduce. Shards may arrive in any order; they must tile [0, blocks) without gaps. `tails`
 * are the largest losses (descending, at most `keep` each) of disjoint sets of paths covering the run.
 */
export function mergeShards(m: SimulationModel, shards: ShardSummary[], tails: Float64Array[], keep: number): MergedRun {
  const ordered = [...shards].sort((a, b) => a.firstBlock - b.firstBlock);
  let next = 0;
  for (const s of ordered) {
    if (s.firstBlock !== next) throw new Error(`mergeShards: blocks ${next}…${s.firstBlock - 1} missing or overlapping`);
    next = s.endBlock;
  }
  if (next !== m.blocks) throw new Error(`mergeShards: shards end at block ${next}, the run has ${m.blocks}`);
  const blockStats = new Float64Array(m.blocks * BLOCK_STAT_FIELDS);
  const histogram = new Float64Array(ordered[0]?.histogram.length ?? 0);
  for (const s of ordered) {
    blockStats.set(s.blockStats, s.firstBlock * BLOCK_STAT_FIELDS);
    for (let i = 0; i < histogram.length; i++) histogram[i]! += s.histogram[i]!;
  }
  const tail = tails.reduce((a, b) => mergeDescending(a, b, keep), new Float64Array(0));
  return { paths: ordered.reduce((n, s) => n + s.paths, 0), blocks: m.blocks, blockStats, histogram, tail };
}

/** The `keep` largest of two descending arrays, descending (a linear merge). */
export function mergeDescending(a: Float64Array, b: Float64Array, keep: number): Float64Array {
  const out = new Float64Array(Math.min(keep, a.length + b.length));
  let i = 0, j = 0;
  for (let k = 0; k < out.length; k++) out[k] = j >= b.length || (i < a.length && a[i]! >= b[j]!) ? a[i++]! : b[j++]!;
  return out;
}

/** Histogram bins from the seed's first block (deterministic, independent of sharding): mean ± 6 sd. */
export function histogramSpec(m: SimulationModel, bins = 60): HistogramSpec {
  const pnl = new Float64Array(m.blockSize);
  const count = simulateBlock(m, 0, createScratch(m), pnl);
  let mean = 0;
  for (let i = 0; i < count; i++) mean += pnl[i]!;
  mean /= count;
  let v = 0;
  for (let i = 0; i < count; i++) v += (pnl[i]! - mean) ** 2;
  const sd = Math.sqrt(v / Math.max(1, count - 1)) || Math.abs(mean) || 1;
  return { min: mean - 6 * sd, width: (12 * sd) / bins, bins };
}

