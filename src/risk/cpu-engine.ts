/**
 * The CPU engine: a Monte Carlo risk run spread over worker threads (all cores by default).
 *
 * The run is split into shards of whole blocks (see model.ts), handed out from a queue so a slow core
 * does not hold the rest back; the shard reports are reduced exactly (tail-merge.ts). The result is a
 * function of the portfolio alone: worker count and shard size change the wall time, never a bit of
 * the numbers. Small runs skip the pool (thread start-up costs more than they do) and run the same
 * code on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { runWhole, type RangeOutput, type RiskRunResult } from './engine.js';
import type { SimulationModel } from './model.js';
import type { Portfolio, PortfolioInput } from './portfolio.js';
import { simulateShard, TopK, type HistogramSpec, type ShardSummary } from './tail-merge.js';
import type { WorkerInit, WorkerRequest } from './cpu-worker.js';

export interface CpuEngineOptions {
  /** Worker threads. 0 runs everything on the calling thread. @default os.availableParallelism() */
  workers?: number;
  /** Blocks per shard, the unit of work a worker takes from the queue. @default ⌈blocks / (4 · workers)⌉ */
  blocksPerShard?: number;
  /** Runs with fewer paths than this run on the calling thread. @default 65536 */
  inlineBelowPaths?: number;
  /** The compiled worker script. @default cpu-worker.js beside this module (in dist/) */
  workerUrl?: URL;
}

export type { RiskRunResult } from './engine.js';

/** Validates `input` (throwing PortfolioValidationError before anything runs), simulates on worker threads, and summarizes. */
export function runRiskCpu(input: PortfolioInput | Portfolio, options: CpuEngineOptions = {}): Promise<RiskRunResult> {
  return runWhole(input, (model, keep, hist, first, end) => simulateRangeCpu(model, keep, hist, first, end, options));
}

/**
 * Simulates blocks [firstBlock, endBlock) of a run on worker threads (or inline when small), keeping
 * each worker's `keep` largest losses: one shard job's work, or a whole run's.
 */
export async function simulateRangeCpu(model: SimulationModel, keep: number, hist: HistogramSpec, firstBlock: number, endBlock: number, options: CpuEngineOptions = {}): Promise<RangeOutput> {
  const started = performance.now();
  const blocks = endBlock - firstBlock;
  const rangePaths = Math.min(model.paths, endBlock * model.blockSize) - firstBlock * model.blockSize;
  const workers = Math.min(options.workers ?? availableParallelism(), blocks);
  const inline = workers <= 0 || rangePaths < (options.inlineBelowPaths ?? 65536);
  const shardBlocks = Math.max(1, options.blocksPerShard ?? Math.ceil(blocks / (4 * Math.max(1, workers))));
  const requests: ShardRange[] = [];
  for (let b = firstBlock; b < endBlock; b += shardBlocks) requests.push({ firstBlock: b, endBlock: Math.min(endBlock, b + shardBlocks) });

  let shards: ShardSummary[];
  let tails: Float64Array[];
  if (inline) {
    const top = new TopK(keep);
    shards = requests.map((r) => simulateShard(model, r.firstBlock, r.endBlock, hist, top));
    tails = [top.result()];
  } else {
    ({ shards, tails } = await runPool(model, keep, hist, requests, workers, options.workerUrl ?? new URL('./cpu-worker.js', import.meta.url)));
  }
  const threads = inline ? 1 : Math.min(workers, requests.length);
  return { engine: 'cpu', device: `cpu ×${threads} thread${threads === 1 ? '' : 's'}`, firstBlock, endBlock, shards, tails, seconds: (performance.now() - started) / 1000 };
}

interface ShardRange {
  firstBlock: number;
  endBlock: number;
}

/**
 * Runs the shards on `count` workers pulling from one queue, then collects each worker's tail; every
 * worker is terminated before it returns.
 */
async function runPool(model: SimulationModel, keep: number, hist: HistogramSpec, ranges: ShardRange[], count: number, workerUrl: URL): Promise<{ shards: ShardSummary[]; tails: Float64Array[] }> {
  const init: WorkerInit = { model, keep, hist };
  const pool = Array.from({ length: Math.min(count, ranges.length) }, () => new Worker(workerUrl, { workerData: init }));
  const shards: ShardSummary[] = [];
  const tails: Float64Array[] = [];
  let next = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const send = (req: WorkerRequest) => w.postMessage(req);
            const give = () => {
              const r = ranges[next++];
              send(r === undefined ? { kind: 'tail' } : { kind: 'shard', ...r });
            };
            w.on('message', (msg: ShardSummary | Float64Array) => {
              if (msg instanceof Float64Array) {
                tails.push(msg);
                resolve();
              } else {
                shards.push(msg);
                give();
              }
            });
            w.once('error', reject);
            w.once('exit', (code) => reject(new Error(`risk worker exited with code ${code} before the run finished`)));
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return { shards, tails };
}
