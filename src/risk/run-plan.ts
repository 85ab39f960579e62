/**
 * A sharded risk run, planned once by whoever submits it and read by each of its jobs: the validated
 * portfolio, the tail size every shard keeps, the histogram bins (fixed before the run, so counts add
 * exactly), and which blocks each shard simulates. Shards are contiguous ranges of whole blocks of
 * paths (model.ts), so any split gives the same paths, and the reduce (engine.ts `finishRun`) the same
 * numbers as one unsharded run on the same engine.
 */
import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { zodIssues } from '../core/job-spec.js';
import type { EngineChoice } from './engine.js';
import { compileModel } from './model.js';
import { validatePortfolio, type Portfolio } from './portfolio.js';
import { tailKeep } from './statistics.js';
import { histogramSpec, type HistogramSpec } from './tail-merge.js';

const RUN_PLAN_FORMAT = 'gpuq-risk-run/1';

export interface BlockRange {
  shard: number;
  firstBlock: number;
  endBlock: number;
}

export interface RiskRunPlan {
  format: typeof RUN_PLAN_FORMAT;
  runId: string;
  portfolio: Portfolio;
  keep: number;
  hist: HistogramSpec;
  ranges: BlockRange[];
  /** What each shard runs on: `auto` picks CUDA when the shard was given a real GPU. */
  engine: EngineChoice;
  /** Worker threads of a CPU-engine shard (0: all cores of its node). */
  cpuWorkers: number;
}

/** `blocks` split into at most `shards` contiguous ranges whose sizes differ by at most one block. */
export function splitBlocks(blocks: number, shards: number): BlockRange[] {
  const k = Math.max(1, Math.min(shards, blocks));
  const base = Math.floor(blocks / k);
  const extra = blocks % k;
  const ranges: BlockRange[] = [];
  let next = 0;
  for (let shard = 0; shard < k; shard++) {
    const size = base + (shard < extra ? 1 : 0);
    ranges.push({ shard, firstBlock: next, endBlock: next + size });
    next += size;
  }
  return ranges;
}

export function planRiskRun(portfolio: Portfolio, o: { runId: string; shards: number; engine: EngineChoice; cpuWorkers: number }): RiskRunPlan {
  const model = compileModel(portfolio);
  return {
    format: RUN_PLAN_FORMAT,
    runId: o.runId,
    portfolio,
    keep: tailKeep(model.paths, portfolio.confidenceLevels),
    hist: histogramSpec(model),
    ranges: splitBlocks(model.blocks, o.shards),
    engine: o.engine,
    cpuWorkers: o.cpuWorkers,
  };
}

const planSchema = z.strictObject({
  format: z.literal(RUN_PLAN_FORMAT),
  runId: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
  portfolio: z.unknown(),
  keep: z.int().min(1),
  hist: z.strictObject({ min: z.number(), width: z.number().gt(0), bins: z.int().min(1) }),
  ranges: z.array(z.strictObject({ shard: z.int().min(0), firstBlock: z.int().min(0), endBlock: z.int().min(1) })).min(1),
  engine: z.enum(['auto', 'cpu', 'cuda']),
  cpuWorkers: z.int().min(0).max(1024),
});

/** Reads a plan back (from a file a job was pointed at): every field checked, the ranges tiling the run. */
export function parseRunPlan(value: unknown): RiskRunPlan {
  const r = planSchema.safeParse(value);
  if (!r.success) throw new ValidationError(zodIssues(r.error, ['plan']));
  const portfolio = validatePortfolio(r.data.portfolio);
  const blocks = compileModel(portfolio).blocks;
  let next = 0;
  r.data.ranges.forEach((g, i) => {
    if (g.shard !== i || g.firstBlock !== next || g.endBlock <= g.firstBlock) {
      throw new ValidationError([{ path: `plan.ranges.${i}`, message: `must be shard ${i} starting at block ${next}` }]);
    }
    next = g.endBlock;
  });
  if (next !== blocks) throw new ValidationError([{ path: 'plan.ranges', message: `must end at block ${blocks}, the run's last, not ${next}` }]);
  return { ...r.data, format: RUN_PLAN_FORMAT, portfolio };
}
