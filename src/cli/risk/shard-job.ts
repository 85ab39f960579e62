/**
 * `gpuq risk shard`: one shard job of a sharded risk run. Reads the plan, simulates its range of blocks
 * on the engine its GPUs allow (engine.ts chooseEngine), and leaves its output in the run directory for
 * the reduce job; its own JSON result says what ran where and how fast.
 */
import type { AttemptContext } from '../../config.js';
import { simulateRangeCpu } from '../../risk/cpu-engine.js';
import { cudaAvailable, simulateRangeCuda } from '../../risk/cuda/cuda-engine.js';
import { chooseEngine, type EngineChoice, type RangeOutput } from '../../risk/engine.js';
import { compileModel } from '../../risk/model.js';
import { readPlan, writeAtomic, writeProgress, writeShardOutput } from './run-dir.js';

export interface ShardSummaryResult {
  runId: string;
  shard: number;
  engine: RangeOutput['engine'];
  device: string;
  engineReason: string;
  firstBlock: number;
  endBlock: number;
  paths: number;
  steps: number;
  assets: number;
  seconds: number;
  pathStepsPerSecond: number;
}

export async function runShardJob(o: { runDir: string; shard: number; engine?: EngineChoice }, ctx: AttemptContext, log: (line: string) => void): Promise<ShardSummaryResult> {
  const plan = readPlan(o.runDir);
  const range = plan.ranges[o.shard];
  if (range === undefined) throw new Error(`the run has shards 0…${plan.ranges.length - 1}, not ${o.shard}`);
  const model = compileModel(plan.portfolio);
  const choice = chooseEngine(o.engine ?? plan.engine, ctx.visibleGpus, ctx.visibleGpus.length > 0 ? cudaAvailable() : { ok: false, reason: 'no GPU' });
  const paths = Math.min(model.paths, range.endBlock * model.blockSize) - range.firstBlock * model.blockSize;
  // For `gpuq risk run`'s progress line: at most a few writes a second.
  let lastWrite = 0;
  const progress = (blocksDone: number, blocks: number) => {
    if (Date.now() - lastWrite < 250) return;
    lastWrite = Date.now();
    writeProgress(o.runDir, o.shard, { blocksDone, blocks });
  };
  log(`run ${plan.runId} shard ${o.shard + 1}/${plan.ranges.length}: blocks ${range.firstBlock}…${range.endBlock - 1} (${paths} paths × ${model.steps} steps) on the ${choice.engine} engine (${choice.why})`);
  const out =
    choice.engine === 'cuda'
      ? await simulateRangeCuda(model, plan.keep, plan.hist, range.firstBlock, range.endBlock)
      : await simulateRangeCpu(model, plan.keep, plan.hist, range.firstBlock, range.endBlock, { ...(plan.cpuWorkers > 0 ? { workers: plan.cpuWorkers } : {}), onProgress: progress });
  writeShardOutput(o.runDir, plan, o.shard, out);
  writeProgress(o.runDir, o.shard, { blocksDone: range.endBlock - range.firstBlock, blocks: range.endBlock - range.firstBlock });
  const result: ShardSummaryResult = {
    runId: plan.runId,
    shard: o.shard,
    engine: out.engine,
    device: out.device,
    engineReason: choice.why,
    firstBlock: range.firstBlock,
    endBlock: range.endBlock,
    paths,
    steps: model.steps,
    assets: model.assets,
    seconds: out.seconds,
    pathStepsPerSecond: (paths * model.steps) / out.seconds,
  };
  if (ctx.resultFile) writeAtomic(ctx.resultFile, JSON.stringify(result));
  log(`done on ${out.device} in ${out.seconds.toFixed(3)} s: ${(result.pathStepsPerSecond / 1e6).toFixed(1)} M path-steps/s`);
  return result;
}
