/**
 * Worker-thread entry of the CPU engine, kept between runs (cpu-engine.ts): for each run it receives the
 * compiled model (`init`), then shard requests [firstBlock, endBlock), answering each with its summary
 * (buffers transferred, not copied); at the end (`tail`) it hands over the largest losses of all the
 * run's shards it ran, and forgets the run.
 */
import { parentPort } from 'node:worker_threads';
import type { SimulationModel } from './model.js';
import { simulateShard, TopK, type HistogramSpec } from './tail-merge.js';

export interface WorkerInit {
  model: SimulationModel;
  keep: number;
  hist: HistogramSpec;
}

/** Start a run, run a shard (answered with its ShardSummary), or hand over the run's tail (answered with a Float64Array). */
export type WorkerRequest = ({ kind: 'init' } & WorkerInit) | { kind: 'shard'; firstBlock: number; endBlock: number } | { kind: 'tail' };

const port = parentPort;
if (port === null) throw new Error('cpu-worker.ts must run in a worker thread');
// The run in progress. One tail for every shard this worker runs: the run's largest losses are among the union of the workers' tails.
let run: { init: WorkerInit; top: TopK } | null = null;
port.on('message', (req: WorkerRequest) => {
  if (req.kind === 'init') {
    run = { init: req, top: new TopK(req.keep) };
    return;
  }
  if (run === null) throw new Error(`risk worker: a "${req.kind}" request before "init"`);
  if (req.kind === 'tail') {
    const tail = run.top.result();
    run = null;
    port.postMessage(tail, [tail.buffer as ArrayBuffer]);
    return;
  }
  const s = simulateShard(run.init.model, req.firstBlock, req.endBlock, run.init.hist, run.top);
  port.postMessage(s, [s.blockStats.buffer, s.histogram.buffer] as ArrayBuffer[]);
});
