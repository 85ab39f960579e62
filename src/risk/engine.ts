/**
 * What every engine produces for a range of blocks, and how a whole run is finished from those
 * outputs. Engines differ in how they draw numbers (the CPU engine: xoshiro128** + ziggurat per block;
 * the CUDA engine: Philox per path), never in what they report: per-block moments, histogram counts
 * over bins fixed before the run, and the range's largest losses. `finishRun` is the one reduce, used
 * by an engine running a whole portfolio and by the reduce job of a sharded run alike.
 */
import { compileModel, type SimulationModel } from './model.js';
import { validatePortfolio, type Portfolio, type PortfolioInput } from './portfolio.js';
import { summarize, tailKeep, type RiskSummary } from './statistics.js';
import { histogramSpec, mergeShards, type HistogramSpec, type ShardSummary } from './tail-merge.js';

export type EngineName = 'cpu' | 'cuda';
/** What a run asks for: `auto` takes CUDA when the job was given a GPU CUDA can use, else the CPU. */
export type EngineChoice = 'auto' | EngineName;

export class EngineUnavailableError extends Error {}

/**
 * The engine a shard runs on. `visibleGpus`: the devices the job was given (CUDA_VISIBLE_DEVICES);
 * `cuda`: whether a CUDA device and the compiled engine (or nvcc to build it) are present.
 */
export function chooseEngine(requested: EngineChoice, visibleGpus: readonly string[], cuda: { ok: true } | { ok: false; reason: string }): { engine: EngineName; why: string } {
  if (requested === 'cpu') return { engine: 'cpu', why: 'asked for' };
  if (visibleGpus.length === 0) {
    if (requested === 'cuda') throw new EngineUnavailableError('the CUDA engine was asked for, but the job was given no GPU (submit it with GPUs)');
    return { engine: 'cpu', why: 'no GPU assigned' };
  }
  if (!cuda.ok) {
    if (requested === 'cuda') throw new EngineUnavailableError(`the CUDA engine was asked for, but ${cuda.reason}`);
    return { engine: 'cpu', why: `GPU ${visibleGpus.join(',')} assigned, but ${cuda.reason}` };
  }
  return { engine: 'cuda', why: requested === 'cuda' ? 'asked for' : `GPU ${visibleGpus.join(',')} assigned` };
}

/** One engine's work over blocks [firstBlock, endBlock) of a run. */
export interface RangeOutput {
  engine: EngineName;
  /** What ran it: "cpu ×2 threads", or the GPU's name. */
  device: string;
  firstBlock: number;
  endBlock: number;
  /** Summaries tiling [firstBlock, endBlock) (any order). */
  shards: ShardSummary[];
  /** Largest losses of disjoint sets of paths covering the range; each descending, at most `keep` long. */
  tails: Float64Array[];
  /** Simulation time, excluding process and compile start-up. */
  seconds: number;
}

export interface RiskRunResult extends RiskSummary {
  /** The engine that ran every range, or "mixed" when a sharded run used both. */
  engine: EngineName | 'mixed';
  devices: string[];
  seed: string;
  steps: number;
  assets: number;
  horizonYears: number;
  measure: Portfolio['measure'];
}

/** The exact reduce of range outputs tiling the whole run, and its statistics. */
export function finishRun(portfolio: Portfolio, model: SimulationModel, keep: number, hist: HistogramSpec, outputs: readonly RangeOutput[]): RiskRunResult {
  const merged = mergeShards(
    model,
    outputs.flatMap((o) => o.shards),
    outputs.flatMap((o) => o.tails),
    keep,
  );
  const engines = [...new Set(outputs.map((o) => o.engine))];
  return {
    engine: engines.length === 1 ? engines[0]! : 'mixed',
    devices: [...new Set(outputs.map((o) => o.device))],
    seed: model.seed,
    steps: model.steps,
    assets: model.assets,
    horizonYears: model.horizonYears,
    measure: portfolio.measure,
    ...summarize(merged, portfolio.confidenceLevels, hist, model.antithetic, model.initialValue, model.blockSize),
  };
}

/** Simulates blocks [firstBlock, endBlock) of a run, keeping the range's `keep` largest losses: what an engine does. */
export type SimulateRange = (model: SimulationModel, keep: number, hist: HistogramSpec, firstBlock: number, endBlock: number) => Promise<RangeOutput>;

/**
 * A whole run on one engine: validates `input` (throwing PortfolioValidationError before anything
 * runs), fixes the tail size and the histogram's bins, simulates every block, and reduces.
 */
export async function runWhole(input: PortfolioInput | Portfolio, simulate: SimulateRange): Promise<RiskRunResult> {
  const portfolio = validatePortfolio(input);
  const model = compileModel(portfolio);
  const keep = tailKeep(model.paths, portfolio.confidenceLevels);
  const hist = histogramSpec(model);
  return finishRun(portfolio, model, keep, hist, [await simulate(model, keep, hist, 0, model.blocks)]);
}
