import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { simulateRangeCpu, runRiskCpu } from './cpu-engine.js';
import { finishRun } from './engine.js';
import { compileModel } from './model.js';
import { validatePortfolio } from './portfolio.js';
import { decodeRange, encodeRange, RangeFileError } from './range-file.js';
import { parseRunPlan, planRiskRun, splitBlocks } from './run-plan.js';

const basket = validatePortfolio({
  assets: [
    { id: 'A', spot: 100, drift: 0.05, volatility: 0.2, position: 3 },
    { id: 'B', spot: 50, drift: 0.07, volatility: 0.35, position: -2 },
  ],
  correlation: [
    [1, 0.4],
    [0.4, 1],
  ],
  options: [{ asset: 'A', type: 'put', strike: 95, expiry: 0.25, position: 4 }],
  horizonDays: 10,
  steps: 5,
  confidenceLevels: [0.95, 0.99],
  paths: 50_000,
  seed: 11,
});

describe('splitBlocks', () => {
  it('tiles [0, blocks) in order with sizes differing by at most one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 300 }), (blocks, shards) => {
        const r = splitBlocks(blocks, shards);
        expect(r.length).toBe(Math.min(blocks, shards));
        let next = 0;
        r.forEach((g, i) => {
          expect(g.shard).toBe(i);
          expect(g.firstBlock).toBe(next);
          next = g.endBlock;
        });
        expect(next).toBe(blocks);
        const sizes = r.map((g) => g.endBlock - g.firstBlock);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
    );
  });
});

describe('a sharded run through range files', () => {
  it('equals the unsharded run bit for bit, for any number of shards', async () => {
    const whole = await runRiskCpu(basket, { workers: 0 });
    for (const shards of [1, 3, 7]) {
      const plan = parseRunPlan(JSON.parse(JSON.stringify(planRiskRun(basket, { runId: 'r1', shards, engine: 'cpu', cpuWorkers: 0 }))));
      expect(plan.ranges).toHaveLength(shards);
      const model = compileModel(plan.portfolio);
      const outputs = [];
      for (const g of plan.ranges) {
        const out = await simulateRangeCpu(model, plan.keep, plan.hist, g.firstBlock, g.endBlock, { workers: 0 });
        outputs.push(decodeRange(encodeRange('r1', g.shard, out), 'r1', g.shard));
      }
      const merged = finishRun(plan.portfolio, model, plan.keep, plan.hist, outputs.reverse());
      expect(JSON.stringify(merged)).toBe(JSON.stringify(whole));
    }
  });
});

describe('progress', () => {
  it('the CPU engine reports the blocks done as it goes, up to the whole range', async () => {
    const plan = planRiskRun(basket, { runId: 'r4', shards: 1, engine: 'cpu', cpuWorkers: 0 });
    const seen: [number, number][] = [];
    await simulateRangeCpu(compileModel(basket), plan.keep, plan.hist, 3, 40, { workers: 0, onProgress: (d, n) => seen.push([d, n]) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.every(([d, n], i) => n === 37 && d > (seen[i - 1]?.[0] ?? 0))).toBe(true);
    expect(seen.at(-1)).toEqual([37, 37]);
  });
});

describe('range files', () => {
  it('round-trip every value exactly, and refuse another run, another shard, or a cut file', async () => {
    const plan = planRiskRun(basket, { runId: 'r2', shards: 2, engine: 'cpu', cpuWorkers: 0 });
    const out = await simulateRangeCpu(compileModel(basket), plan.keep, plan.hist, 0, 20, { workers: 0 });
    const bytes = encodeRange('r2', 0, out);
    const back = decodeRange(bytes, 'r2', 0);
    expect(back.tails[0]).toEqual(out.tails[0]);
    expect(back.shards[0]!.blockStats).toEqual(out.shards[0]!.blockStats);
    expect(back).toEqual(out);
    expect(() => decodeRange(bytes, 'other', 0)).toThrow(/belongs to run r2 shard 0/);
    expect(() => decodeRange(bytes, 'r2', 1)).toThrow(RangeFileError);
    expect(() => decodeRange(bytes.subarray(0, bytes.length - 8), 'r2', 0)).toThrow(/holds \d+ bytes/);
    expect(() => decodeRange(new TextEncoder().encode('hello world'), 'r2', 0)).toThrow(/not a gpuq range file/);
  });
});

describe('parseRunPlan', () => {
  const good = () => JSON.parse(JSON.stringify(planRiskRun(basket, { runId: 'r3', shards: 4, engine: 'auto', cpuWorkers: 2 }))) as Record<string, unknown> & { ranges: { endBlock: number }[]; portfolio: { assets: { volatility: number }[] } };

  it('accepts what planRiskRun wrote', () => {
    const p = parseRunPlan(good());
    expect(p.ranges.map((r) => r.shard)).toEqual([0, 1, 2, 3]);
    expect(p.engine).toBe('auto');
  });

  it('refuses ranges that do not tile the run, an invalid portfolio, and unknown fields, naming the field', () => {
    const gap = good();
    gap.ranges[1]!.endBlock -= 1;
    expect(() => parseRunPlan(gap)).toThrow(/plan\.ranges\.2: must be shard 2 starting at block/);
    const short = good();
    short.ranges.pop();
    expect(() => parseRunPlan(short)).toThrow(/plan\.ranges: must end at block 49/);
    const bad = good();
    bad.portfolio.assets[0]!.volatility = -1;
    expect(() => parseRunPlan(bad)).toThrow(/assets\.0\.volatility/);
    expect(() => parseRunPlan({ ...good(), extra: 1 })).toThrow(/unknown field/);
  });
});
