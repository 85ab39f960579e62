import { describe, expect, it } from 'vitest';
import { compileModel } from './model.js';
import { validatePortfolio } from './portfolio.js';
import { summarize, tailKeep } from './statistics.js';
import { histogramSpec, mergeDescending, mergeShards, simulateShard, sortAscending, TopK } from './tail-merge.js';

describe('TopK', () => {
  it('keeps exactly the k largest values of a stream, largest first', () => {
    const values = Array.from({ length: 50_000 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1);
    const top = new TopK(777);
    for (const v of values) if (v > top.threshold) top.push(v);
    expect(Array.from(top.result())).toEqual([...values].sort((a, b) => b - a).slice(0, 777));
  });

  it('keeps ties and duplicates exactly (selection with many equal values)', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 13);
    const top = new TopK(3001);
    for (const v of values) if (v > top.threshold) top.push(v);
    expect(Array.from(top.result())).toEqual([...values].sort((a, b) => b - a).slice(0, 3001));
  });
});

describe('sorting and merging tails', () => {
  it('sortAscending orders like a numeric sort, duplicates and negatives included', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => ((i * 7919) % 1000) - 500 + (i % 3) * 0.25);
    const a = Float64Array.from(values);
    sortAscending(a, 0, a.length - 1);
    expect(Array.from(a)).toEqual([...values].sort((x, y) => x - y));
  });

  it('mergeDescending keeps the largest of two descending arrays', () => {
    const m = mergeDescending(Float64Array.from([9, 7, 7, 1]), Float64Array.from([8, 7, 2]), 5);
    expect(Array.from(m)).toEqual([9, 8, 7, 7, 7]);
  });
});

describe('exact reduce of shards', () => {
  const portfolio = validatePortfolio({
    assets: [
      { id: 'A', spot: 100, drift: 0.08, volatility: 0.25, position: 1 },
      { id: 'B', spot: 40, drift: 0.02, volatility: 0.4, position: 3 },
    ],
    correlation: [[1, -0.5], [-0.5, 1]],
    options: [{ asset: 'B', type: 'put', strike: 38, expiry: 0.25, position: 10 }],
    horizonDays: 5,
    steps: 5,
    confidenceLevels: [0.95, 0.99],
    paths: 20 * 1024 + 2, // a short last block
    seed: '12345678901234567890',
  });
  const m = compileModel(portfolio);
  const keep = tailKeep(m.paths, portfolio.confidenceLevels);
  const hist = histogramSpec(m);
  const run = (shardBlocks: number) => {
    // Each shard gets its own tail here (as if every shard ran on its own worker): the most tails to merge.
    const shards = [];
    const tails = [];
    for (let b = 0; b < m.blocks; b += shardBlocks) {
      const top = new TopK(keep);
      shards.push(simulateShard(m, b, Math.min(m.blocks, b + shardBlocks), hist, top));
      tails.push(top.result());
    }
    shards.reverse(); // arrival order must not matter
    return summarize(mergeShards(m, shards, tails, keep), portfolio.confidenceLevels, hist, m.antithetic, m.initialValue, m.blockSize);
  };

  it('gives bit-identical results whatever the shard size (1, 3, 7 blocks or all in one)', () => {
    const whole = run(m.blocks);
    for (const size of [1, 3, 7]) expect(run(size)).toEqual(whole);
    expect(whole.paths).toBe(m.paths);
    expect(whole.histogram.counts.reduce((a, b) => a + b, 0) + whole.histogram.underflow + whole.histogram.overflow).toBe(m.paths);
  });

  it('handles a tiny run (4 paths, 50 %): VaR is the loss of rank ⌈0.5·4⌉ = 2, ES the mean of the 2 largest', () => {
    const tiny = validatePortfolio({ assets: [{ id: 'A', spot: 100, drift: 0, volatility: 0.2, position: 1 }], horizonDays: 1, steps: 1, confidenceLevels: [0.5], paths: 4, seed: 3 });
    const mt = compileModel(tiny);
    const k = tailKeep(4, [0.5]);
    const h = histogramSpec(mt);
    const top = new TopK(k);
    const run = mergeShards(mt, [simulateShard(mt, 0, 1, h, top)], [top.result()], k);
    const losses = Array.from(run.tail).sort((a, b) => a - b);
    const s = summarize(run, [0.5], h, true, mt.initialValue, mt.blockSize);
    expect(s.levels[0]!.valueAtRisk).toBe(losses[1]);
    expect(s.levels[0]!.expectedShortfall).toBeCloseTo((losses[2]! + losses[3]!) / 2, 12);
  });

  it('refuses shards that leave a gap', () => {
    const top = new TopK(keep);
    const a = simulateShard(m, 0, 2, hist, top);
    const c = simulateShard(m, 3, m.blocks, hist, top);
    expect(() => mergeShards(m, [a, c], [top.result()], keep)).toThrow(/missing/);
  });
});
