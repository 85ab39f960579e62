/**
 * A gpuq pool worker in TypeScript with no library (docs/pool-protocol.md). It handles several tasks at once
 * (the pool's `concurrency`, given as GPUQ_POOL_CONCURRENCY), each answered when its promise settles.
 *
 * `npm run build` compiles it to dist/examples/pools/worker.js:
 *   gpuq pool create embed --concurrency 8 --max-replicas 2 -- node dist/examples/pools/worker.js
 *
 * The "model" here is a stand-in: it loads for WORKER_LOAD_MS (default 0) and "embeds" a text into a
 * short vector of character codes. Replace `loadModel` and `run` with the real thing.
 */
import { createInterface } from 'node:readline';

type Message = { type: 'task'; id: number; attempt: number; payload: unknown } | { type: 'shutdown' };

interface Model {
  embed(text: string): number[];
}

async function loadModel(): Promise<Model> {
  const ms = Number(process.env.WORKER_LOAD_MS ?? 0);
  const beat = setInterval(() => send({ type: 'heartbeat' }), 1000);
  await new Promise((r) => setTimeout(r, ms));
  clearInterval(beat);
  return { embed: (text) => Array.from(text.slice(0, 8), (c) => c.charCodeAt(0) / 128) };
}

/** One task. Throwing a TaskError with retryable=false sends the task straight to the pool's DLQ. */
async function run(model: Model, payload: unknown): Promise<unknown> {
  if (typeof payload !== 'object' || payload === null || typeof (payload as { text?: unknown }).text !== 'string') {
    throw new TaskError('payload must be {"text": "..."}', false);
  }
  return { vector: model.embed((payload as { text: string }).text) };
}

class TaskError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

// The protocol owns stdout; anything logged goes to stderr, which is the replica's log.
console.log = console.error;
console.info = console.error;

/** Lines written in one turn of the event loop go out in one write. */
let outbox: string[] = [];
function send(message: object): void {
  outbox.push(JSON.stringify(message));
  if (outbox.length === 1) setImmediate(flush);
}
function flush(): void {
  const lines = outbox;
  outbox = [];
  if (lines.length > 0) process.stdout.write(lines.join('\n') + '\n');
}

let inFlight = 0;
let shuttingDown = false;
function exitWhenIdle(): void {
  if (shuttingDown && inFlight === 0) {
    flush();
    process.stdout.write('', () => process.exit(0));
  }
}

async function main(): Promise<void> {
  const model = await loadModel();
  console.error(`worker ${process.pid}: model loaded; GPUs "${process.env.CUDA_VISIBLE_DEVICES ?? ''}"`);
  send({ type: 'ready' });
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    const m = JSON.parse(line) as Message;
    if (m.type === 'shutdown') {
      shuttingDown = true;
      return exitWhenIdle();
    }
    if (m.type !== 'task') return;
    inFlight++;
    run(model, m.payload).then(
      (result) => send({ type: 'result', id: m.id, result }),
      (err: unknown) => send({ type: 'error', id: m.id, error: err instanceof Error ? err.message : String(err), retryable: err instanceof TaskError ? err.retryable : true }),
    ).finally(() => {
      inFlight--;
      exitWhenIdle();
    });
  });
  // End of input: the host is gone or done with us.
  lines.on('close', () => {
    shuttingDown = true;
    exitWhenIdle();
  });
}

void main();
