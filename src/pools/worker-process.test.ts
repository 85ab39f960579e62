import { once } from 'node:events';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerMessage } from './protocol.js';
import { WorkerProcess, workerEnv, type WorkerSpec } from './worker-process.js';

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/pools/model-worker.mjs');

interface Watched {
  w: WorkerProcess;
  messages: WorkerMessage[];
  protocolErrors: string[];
  ooms: string[];
  stderr: () => string;
  exit: Promise<[number | null, NodeJS.Signals | null, string | null]>;
}
const live = new Set<WorkerProcess>();

function watch(spec: WorkerSpec): Watched {
  const err = new PassThrough();
  let text = '';
  err.on('data', (c: Buffer) => (text += c.toString()));
  const w = new WorkerProcess(spec, err);
  live.add(w);
  const messages: WorkerMessage[] = [];
  const protocolErrors: string[] = [];
  const ooms: string[] = [];
  w.on('message', (m) => messages.push(m));
  w.on('protocolError', (d) => protocolErrors.push(d));
  w.on('oom', (l) => ooms.push(l));
  const exit = once(w, 'exit').then((a) => {
    live.delete(w);
    return a as [number | null, NodeJS.Signals | null, string | null];
  });
  return { w, messages, protocolErrors, ooms, stderr: () => text, exit };
}

/** A worker written inline: `node -e SCRIPT`. */
function script(code: string, env: Record<string, string> = {}): WorkerSpec {
  return { argv: [process.execPath, '-e', code], env: { PATH: process.env.PATH ?? '', ...env } };
}

afterEach(async () => {
  for (const w of live) w.kill('SIGKILL');
  await Promise.all([...live].map((w) => once(w, 'exit')));
});

describe('WorkerProcess', () => {
  it('reads messages written in pieces, even cut inside a character, and reports its exit after the last of them', async () => {
    // Each piece completes one message and starts the next; the next piece is written after the host's "go",
    // which the test sends once it has the message, so the pieces arrive as separate reads.
    const t = watch(
      script(`
        const check = Buffer.from('✓');
        const parts = [
          Buffer.concat([Buffer.from('{"type":"heartbeat"}\\n{"type":"result","id":7,"result":"'), check.subarray(0, 1)]),
          Buffer.concat([check.subarray(1), Buffer.from('"}\\n{"type":"re')]),
          Buffer.from('ady"}\\n'),
        ];
        let i = 0;
        process.stdout.write(parts[i++]);
        process.stdin.on('data', (c) => {
          for (const b of c) if (b === 10 && i < parts.length) process.stdout.write(parts[i++]);
          if (i === parts.length) process.stdout.write('', () => process.exit(3));
        });
      `),
    );
    t.w.on('message', (m) => m.type !== 'ready' && t.w.send('go\n'));
    expect(await t.exit).toEqual([3, null, null]);
    expect(t.messages).toEqual([{ type: 'heartbeat' }, { type: 'result', id: 7, result: '✓' }, { type: 'ready' }]);
    expect(t.protocolErrors).toEqual([]);
  });

  it('reports a line outside the protocol as a protocol error', async () => {
    const t = watch(script(`process.stdout.write('{"type":"ready"}\\n{"type":"hello"}\\n{"type":"ready"}\\n'); setInterval(() => {}, 1000);`));
    await once(t.w, 'protocolError');
    expect(t.messages).toEqual([{ type: 'ready' }]);
    expect(t.protocolErrors).toEqual(['unknown message type "hello": a worker sends "ready", "heartbeat", "result" or "error"']);
    t.w.kill('SIGKILL');
    expect(await t.exit).toEqual([null, 'SIGKILL', null]);
    expect(t.w.sent('SIGKILL')).toBe(true);
  });

  it('reports a line over 8 MiB as a protocol error before its end comes', async () => {
    const t = watch(script(`process.stdout.write('"' + 'x'.repeat(9 * 1024 * 1024)); setInterval(() => {}, 1000);`));
    expect(await once(t.w, 'protocolError')).toEqual(['a line longer than 8388608 bytes (the most a line may hold)']);
  });

  it('copies stderr through and reports CUDA out-of-memory lines', async () => {
    const t = watch({ argv: [process.execPath, WORKER], env: { PATH: process.env.PATH ?? '' } });
    await once(t.w, 'message');
    t.w.send('{"type":"task","id":1,"attempt":1,"payload":{"op":"oom"}}\n');
    expect(await once(t.w, 'oom')).toEqual(['RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB']);
    expect(t.stderr()).toBe('Traceback (most recent call last):\nRuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\n');
  });

  it('runs a task and shuts down on "shutdown", exiting 0', async () => {
    const t = watch({ argv: [process.execPath, WORKER], env: { PATH: process.env.PATH ?? '' } });
    while (t.messages.length < 2) await once(t.w, 'message');
    t.w.send('{"type":"task","id":5,"attempt":2,"payload":{"op":"square","x":12}}\n{"type":"shutdown"}\n');
    expect(await t.exit).toEqual([0, null, null]);
    expect(t.messages).toEqual([{ type: 'heartbeat' }, { type: 'ready' }, { type: 'result', id: 5, result: { y: 144, pid: t.w.pid } }]);
  });

  it('reports a signal it did not send as such', async () => {
    const t = watch(script(`process.kill(process.pid, 'SIGKILL')`));
    expect(await t.exit).toEqual([null, 'SIGKILL', null]);
    expect(t.w.sent('SIGKILL')).toBe(false);
  });

  it('reports a program that cannot be started', async () => {
    const t = watch({ argv: ['/nonexistent/worker'], env: {} });
    const [code, signal, spawnError] = await t.exit;
    expect([code, signal]).toEqual([null, null]);
    expect(spawnError).toMatch(/^cannot start the worker "\/nonexistent\/worker": .*ENOENT/);
    expect(t.w.running).toBe(false);
  });

  it('writes a large batch through a full pipe in order', async () => {
    // The worker reads only after a while, so the pipe fills and writes wait for 'drain'.
    const t = watch(
      script(`
        let n = 0, carry = '';
        setTimeout(() => process.stdin.on('data', (c) => {
          const lines = (carry + c).split('\\n'); carry = lines.pop();
          for (const l of lines) { const m = JSON.parse(l); if (m.id !== ++n) { console.log(JSON.stringify({ type: 'error', id: 1, error: 'out of order at ' + n })); process.exit(1); } }
          if (n === 3000) { console.log(JSON.stringify({ type: 'result', id: 1, result: n })); process.exit(0); }
        }), 100);
      `),
    );
    const pad = 'p'.repeat(200);
    for (let b = 0; b < 30; b++) {
      let text = '';
      for (let i = 1; i <= 100; i++) text += `{"type":"task","id":${b * 100 + i},"attempt":1,"payload":"${pad}"}\n`;
      t.w.send(text);
    }
    expect(await t.exit).toEqual([0, null, null]);
    expect(t.messages).toEqual([{ type: 'result', id: 1, result: 3000 }]);
  });
});

describe('workerEnv', () => {
  it('passes the host\'s environment on without the replica\'s credential and control-plane URLs', () => {
    expect(workerEnv({ PATH: '/bin', GPUQ_JOB_ID: '4', GPUQ_POOL_CREDENTIAL: 'secret', GPUQ_API_URL: 'http://cp', CUDA_VISIBLE_DEVICES: '1', UNSET: undefined }, { GPUQ_POOL: 'p' })).toEqual({
      PATH: '/bin',
      GPUQ_JOB_ID: '4',
      CUDA_VISIBLE_DEVICES: '1',
      GPUQ_POOL: 'p',
    });
  });
});
