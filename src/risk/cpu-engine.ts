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
  /** Blocks per shard, the unit of work a worker takes from the queue. @default ⌈blocks / (4 · workers)⌉, or / (16 · workers) with onProgress */
  blocksPerShard?: number;
  /** Called as blocks are done: blocks done so far of the range's. */
  onProgress?: (blocksDone: number, blocks: number) => void;
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
  // Smaller units when someone watches: finer progress, at one message per unit (the split never changes a result).
  const shardBlocks = Math.max(1, options.blocksPerShard ?? Math.ceil(blocks / ((options.onProgress ? 16 : 4) * Math.max(1, workers))));
  let done = 0;
  const progress = (s: ShardRange) => {
    done += s.endBlock - s.firstBlock;
    options.onProgress?.(done, blocks);
  };
  const requests: ShardRange[] = [];
  for (let b = firstBlock; b < endBlock; b += shardBlocks) requests.push({ firstBlock: b, endBlock: Math.min(endBlock, b + shardBlocks) });

  let shards: ShardSummary[];
  let tails: Float64Array[];
  if (inline) {
    const top = new TopK(keep);
    shards = requests.map((r) => {
      const s = simulateShard(model, r.firstBlock, r.endBlock, hist, top);
      progress(r);
      return s;
    });
    tails = [top.result()];
  } else {
    ({ shards, tails } = await runPool(model, keep, hist, requests, workers, options.workerUrl ?? new URL('./cpu-worker.js', import.meta.url), progress));
  }
  const threads = inline ? 1 : Math.min(workers, requests.length);
  return { engine: 'cpu', device: `cpu ×${threads} thread${threads === 1 ? '' : 's'}`, firstBlock, endBlock, shards, tails, seconds: (performance.now() - started) / 1000 };
}

interface ShardRange {
  firstBlock: number;
  endBlock: number;
}

/**
 * Worker threads kept between runs, per worker script. A worker's first run pays for its start (a new
 * isolate loading the modules, ≈ 70 ms) and for the JIT's warm-up of the hot loops (≈ 0.1 s at 10^7
 * paths); a process that runs several risk runs (a benchmark, a service) pays it once per worker. Idle
 * workers are unref'd, so they never keep the process alive; one that fails is dropped.
 */
const idle = new Map<string, Worker[]>();

function takeWorkers(workerUrl: URL, count: number): Worker[] {
  const free = idle.get(workerUrl.href) ?? [];
  const taken = free.splice(0, count);
  while (taken.length < count) {
    const w = new Worker(workerUrl);
    // Always listened to, so a worker that dies while idle is dropped rather than crashing the process.
    const drop = () => {
      const list = idle.get(workerUrl.href);
      if (list?.includes(w)) list.splice(list.indexOf(w), 1);
    };
    w.on('error', drop);
    w.on('exit', drop);
    taken.push(w);
  }
  for (const w of taken) w.ref();
  return taken;
}

function returnWorker(workerUrl: URL, w: Worker): void {
  w.unref();
  const free = idle.get(workerUrl.href) ?? [];
  free.push(w);
  idle.set(workerUrl.href, free);
}

/**
 * Runs the shards on `count` workers pulling from one queue, then collects each worker's tail. Workers
 * that finished cleanly go back to the pool; any failure terminates the run's workers.
 */
async function runPool(model: SimulationModel, keep: number, hist: HistogramSpec, ranges: ShardRange[], count: number, workerUrl: URL, onShard: (s: ShardRange) => void): Promise<{ shards: ShardSummary[]; tails: Float64Array[] }> {
  const init: WorkerInit = { model, keep, hist };
  const pool = takeWorkers(workerUrl, Math.min(count, ranges.length));
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
            const onMessage = (msg: ShardSummary | Float64Array) => {
              if (msg instanceof Float64Array) {
                tails.push(msg);
                done();
                resolve();
              } else {
                shards.push(msg);
                onShard(msg);
                give();
              }
            };
            const onError = (err: Error) => {
              done();
              reject(err);
            };
            const onExit = (code: number) => onError(new Error(`risk worker exited with code ${code} before the run finished`));
            // Only this run's listeners come off: the Worker's own (and the pool's) stay.
            const done = () => {
              w.off('message', onMessage);
              w.off('error', onError);
              w.off('exit', onExit);
            };
            w.on('message', onMessage);
            w.on('error', onError);
            w.on('exit', onExit);
            send({ kind: 'init', ...init });
            give();
          }),
      ),
    );
  } catch (err) {
    await Promise.all(pool.map((w) => w.terminate()));
    throw err;
  }
  for (const w of pool) returnWorker(workerUrl, w);
  return { shards, tails };
}
