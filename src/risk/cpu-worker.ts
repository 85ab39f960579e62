/**
 * Worker-thread entry of the CPU engine: receives the compiled model once (workerData), then shard
 * requests [firstBlock, endBlock), and answers each with its summary (buffers transferred, not copied); at the end it hands over the
 * largest losses of all its shards.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SimulationModel } from './model.js';
import { simulateShard, TopK, type HistogramSpec } from './tail-merge.js';

export interface WorkerInit {
  model: SimulationModel;
  keep: number;
  hist: HistogramSpec;
}

/** Run a shard (answered with its ShardSummary), or hand over the worker's tail (answered with a Float64Array). */
export type WorkerRequest = { kind: 'shard'; firstBlock: number; endBlock: number } | { kind: 'tail' };

const init = workerData as WorkerInit;
const port = parentPort;
if (port === null) throw new Error('cpu-worker.ts must run in a worker thread');
// One tail for every shard this worker runs: the run's largest losses are among the union of the workers' tails.
const top = new TopK(init.keep);
port.on('message', (req: WorkerRequest) => {
  if (req.kind === 'tail') {
    const tail = top.result();
    port.postMessage(tail, [tail.buffer as ArrayBuffer]);
    return;
  }
  const s = simulateShard(init.model, req.firstBlock, req.endBlock, init.hist, top);
  port.postMessage(s, [s.blockStats.buffer, s.histogram.buffer] as ArrayBuffer[]);
});
