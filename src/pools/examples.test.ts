import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { QueueLink } from '../../test/fixtures/pools/queue-link.js';
import { HOST_EXIT } from './protocol.js';
import { ReplicaHost } from './replica-host.js';

/** The example workers in examples/pools/ speak the protocol: each runs under a real host, says ready, answers, stops. */

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../examples/pools');
const hasPython = spawnSync('python3', ['--version']).status === 0;
const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-pool-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runExample(argv: string[], env: Record<string, string>, concurrency: number, payloads: unknown[]) {
  const link = new QueueLink();
  let stderr = '';
  const host = new ReplicaHost({
    pool: 'example',
    worker: { argv, env: { PATH: process.env.PATH ?? '', ...env } },
    concurrency,
    taskTimeoutMs: 30_000,
    startTimeoutMs: 30_000,
    graceMs: 5_000,
    killOnOom: true,
    link,
    clock: systemClock,
    log: () => {},
    workerStderr: new Writable({
      write(c: Buffer, _e, cb) {
        stderr += c.toString();
        cb();
      },
    }),
  });
  const exit = host.run();
  link.submit(...payloads);
  const results = await link.untilResults(payloads.length);
  link.stop();
  return { code: await exit, results, ends: link.ends, stderr };
}

describe('example workers', () => {
  it.skipIf(!hasPython)('echo_worker.py loads, answers a task and an error, and stops', async () => {
    const r = await runExample(['python3', path.join(examples, 'echo_worker.py')], { ECHO_LOAD_SECONDS: '0.2' }, 1, [{ x: 1 }, { fail: 'no x' }]);
    expect(r.code).toBe(HOST_EXIT.stopped);
    expect(r.results).toEqual([
      { taskId: 1, attempt: 1, result: { echo: { x: 1 }, pid: expect.any(Number) } },
      { taskId: 2, attempt: 1, error: 'no x', retryable: false },
    ]);
    expect(r.ends).toEqual([{ reason: 'stopped', detail: null }]);
    // Its print() went to stderr (the log), not into the protocol.
    expect(r.stderr).toContain('echo worker: model loaded');
  });

  it('worker.ts answers tasks concurrently, and stops', async () => {
    const js = path.join(dir, 'worker.mjs');
    await build({ entryPoints: [path.join(examples, 'worker.ts')], platform: 'node', format: 'esm', target: 'node20', outfile: js, logLevel: 'silent' });
    const r = await runExample([process.execPath, js], { WORKER_LOAD_MS: '50' }, 4, [{ text: 'ab' }, { text: 'c' }, { nope: 1 }]);
    expect(r.code).toBe(HOST_EXIT.stopped);
    expect(r.results.sort((a, b) => a.taskId - b.taskId)).toEqual([
      { taskId: 1, attempt: 1, result: { vector: [97 / 128, 98 / 128] } },
      { taskId: 2, attempt: 1, result: { vector: [99 / 128] } },
      { taskId: 3, attempt: 1, error: 'payload must be {"text": "..."}', retryable: false },
    ]);
    expect(r.stderr).toContain('model loaded');
  });
});
