import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_EXIT, type ClaimedTaskWire, type TaskOutcome } from './protocol.js';
import { parseHostArgs } from './host-args.js';

/**
 * The host's program end to end: its arguments and environment, its process, real HTTP to a small stand-in for
 * the control plane's three replica endpoints, and the fixture worker. The program is bundled from source here
 * so the test does not depend on a build having run.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.resolve(here, '../../test/fixtures/pools/model-worker.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-host-main-'));
const HOST = path.join(dir, 'host-main.mjs');
const ARGS = ['--pool', 'embed', '--concurrency', '2', '--task-timeout-ms', '30000', '--start-timeout-ms', '30000', '--grace-ms', '2000', '--kill-on-oom', '--'];

beforeAll(async () => {
  await build({ entryPoints: [path.join(here, 'host-main.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: HOST, logLevel: 'silent' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The replica endpoints over a queue: what the host posts, and tasks for it. */
class StandIn {
  queue: ClaimedTaskWire[] = [];
  results: TaskOutcome[] = [];
  ends: unknown[] = [];
  auth = new Set<string | undefined>();
  stop = false;
  server!: Server;
  private wake: (() => void)[] = [];

  async listen(): Promise<string> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', async () => {
        this.auth.add(req.headers.authorization);
        const body = JSON.parse(text) as { results?: TaskOutcome[]; want?: number; waitMs?: number };
        const reply = (b: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(b));
        if (req.url === '/v1/pools/embed/replicas/42/exchange') {
          this.results.push(...(body.results ?? []));
          this.poke();
          if (this.queue.length === 0 && !this.stop && (body.waitMs ?? 0) > 0) await new Promise<void>((r) => this.wake.push(r));
          return reply({ tasks: this.stop ? [] : this.queue.splice(0, body.want), stop: this.stop });
        }
        if (req.url === '/v1/pools/embed/replicas/42/end') this.ends.push(body);
        reply({ ok: true });
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  poke(): void {
    for (const w of this.wake.splice(0)) w();
  }

  async until(n: number): Promise<void> {
    while (this.results.length < n) await new Promise<void>((r) => this.wake.push(r));
  }

  close(): void {
    this.poke();
    this.server.closeAllConnections();
    this.server.close();
  }
}

function runHost(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [HOST, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exit = once(child, 'exit').then(([code]) => code as number);
  return { child, exit, stderr: () => stderr };
}

describe('gpuq-pool-host', () => {
  it('refuses bad arguments with a message and exit status 2', async () => {
    const h = runHost(['--pool', 'embed', '--concurrency', 'lots', '--', 'worker'], {});
    expect(await h.exit).toBe(HOST_EXIT.usage);
    expect(h.stderr()).toMatch(/^gpuq-pool-host: --concurrency must be an integer from 1 to 1024, not "lots"; --task-timeout-ms is required.*GPUQ_API_URL is not set/);
    expect(h.stderr()).toContain('usage: gpuq-pool-host');
  });

  it('runs tasks through a real worker over HTTP, keeps the credential from the worker, and stops with 0', async () => {
    const cp = new StandIn();
    const url = await cp.listen();
    const unused = createServer();
    await new Promise<void>((r) => unused.listen(0, '127.0.0.1', r));
    const down = `http://127.0.0.1:${(unused.address() as AddressInfo).port}`;
    await new Promise<void>((r) => unused.close(() => r()));
    try {
      const h = runHost([...ARGS, process.execPath, WORKER], { GPUQ_API_URL: `${down},${url}/`, GPUQ_POOL_CREDENTIAL: 'c0ffee', GPUQ_JOB_ID: '42', GPUQ_ATTEMPT_ID: '9', GPUQ_ATTEMPT: '1' });
      cp.queue.push({ id: 1, attempt: 1, payload: { op: 'env', names: ['GPUQ_POOL_CREDENTIAL', 'GPUQ_API_URL', 'GPUQ_POOL', 'GPUQ_POOL_CONCURRENCY', 'GPUQ_JOB_ID'] } }, { id: 2, attempt: 3, payload: { op: 'square', x: 7 } });
      cp.poke();
      await cp.until(2);
      cp.stop = true;
      cp.poke();
      expect(await h.exit).toBe(HOST_EXIT.stopped);
      expect(cp.results.sort((a, b) => a.taskId - b.taskId)).toEqual([
        { taskId: 1, attempt: 1, result: { env: { GPUQ_POOL_CREDENTIAL: null, GPUQ_API_URL: null, GPUQ_POOL: 'embed', GPUQ_POOL_CONCURRENCY: '2', GPUQ_JOB_ID: '42' } } },
        { taskId: 2, attempt: 3, result: { y: 49, pid: expect.any(Number) } },
      ]);
      expect(cp.ends).toEqual([{ attemptId: 9, reason: 'stopped', detail: null }]);
      expect([...cp.auth]).toEqual(['Bearer c0ffee']);
      expect(h.stderr()).toMatch(/gpuq-pool-host: pool embed: worker started, pid \d+/);
      expect(h.stderr()).toMatch(/gpuq-pool-host: ready to http:\/\/127\.0\.0\.1:\d+ failed .*; trying http:\/\/127\.0\.0\.1:\d+/);
    } finally {
      cp.close();
    }
  });

  it('exits 143 on SIGTERM after shutting its worker down', async () => {
    const cp = new StandIn();
    const url = await cp.listen();
    try {
      const h = runHost([...ARGS, process.execPath, WORKER], { GPUQ_API_URL: url, GPUQ_POOL_CREDENTIAL: 'c0ffee', GPUQ_JOB_ID: '42', GPUQ_ATTEMPT_ID: '9' });
      while (!h.stderr().includes('worker ready')) await once(h.child.stderr, 'data');
      h.child.kill('SIGTERM');
      expect(await h.exit).toBe(HOST_EXIT.terminated);
      expect(h.stderr()).toContain('the worker exited with code 0 after SIGTERM');
      expect(cp.ends).toEqual([]);
    } finally {
      cp.close();
    }
  });
});

describe('parseHostArgs', () => {
  const env = { GPUQ_API_URL: 'http://a:1, http://b:2/', GPUQ_POOL_CREDENTIAL: 'k', GPUQ_JOB_ID: '3', GPUQ_ATTEMPT_ID: '4' };
  it('reads the command line the control plane writes, leaving the worker\'s own flags alone', () => {
    expect(parseHostArgs(['--pool', 'p', '--concurrency', '8', '--task-timeout-ms', '1000', '--start-timeout-ms', '2000', '--grace-ms', '0', '--no-kill-on-oom', '--', 'python3', 'w.py', '--pool', 'x', '--'], env)).toEqual({
      pool: 'p',
      concurrency: 8,
      taskTimeoutMs: 1000,
      startTimeoutMs: 2000,
      graceMs: 0,
      killOnOom: false,
      workerArgv: ['python3', 'w.py', '--pool', 'x', '--'],
      urls: ['http://a:1', 'http://b:2'],
      credential: 'k',
      jobId: 3,
      attemptId: 4,
    });
  });

  it('says what is wrong', () => {
    const base = ['--pool', 'p', '--concurrency', '1', '--task-timeout-ms', '1', '--start-timeout-ms', '1', '--grace-ms', '1'];
    expect(parseHostArgs([...base, 'python3'], env)).toEqual({ error: 'no worker command: put it after "--"' });
    expect(parseHostArgs([...base, '--kill-on-oom', '--no-kill-on-oom', '--', 'w'], env)).toEqual({ error: 'give one of --kill-on-oom and --no-kill-on-oom' });
    expect(parseHostArgs([...base, '--colour', '--', 'w'], env)).toMatchObject({ error: expect.stringMatching(/Unknown option '--colour'/) });
    expect(parseHostArgs([...base, '--', 'w'], { ...env, GPUQ_API_URL: 'ftp://x', GPUQ_ATTEMPT_ID: '' })).toEqual({ error: 'GPUQ_API_URL: "ftp://x" is not an http(s) URL; GPUQ_ATTEMPT_ID must be a positive integer, not ""' });
    expect(parseHostArgs([...base, '--', 'w'], env)).toMatchObject({ killOnOom: true });
  });
});
