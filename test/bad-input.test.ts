import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess;
let before: string;

/** Everything the store holds that a bad request might touch. */
async function storeState(): Promise<string> {
  const jobs = await gpuq.client.list({ limit: 1000 });
  const dlq = await gpuq.client.dlq({ limit: 1000 });
  const mode = await fetch(`${gpuq.url}/v1/control/maintenance`).then((r) => r.json());
  return JSON.stringify({ jobs: jobs.jobs.map((j) => [j.id, j.state, j.attempts, j.updatedAt]), dlq: dlq.jobs.map((j) => j.id), mode });
}

beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 4, args: ['--node-name', 'box-1'] });
  const { job } = await gpuq.client.submit({ type: 'noop', idempotencyKey: 'seed' });
  // Settled first: a job still moving would change the state the cases compare with.
  await until('the seed job to succeed', async () => (await gpuq.client.get(job.id)).job.state === 'succeeded');
  before = await storeState();
});
afterAll(async () => {
  await gpuq.stop();
});

const big = 'x'.repeat(17 * 1024 * 1024);
type Case = [name: string, method: string, path: string, body: string | undefined, status: number, message: RegExp, contentType?: string];
const json = (v: unknown) => JSON.stringify(v);

const CASES: Case[] = [
  ['gpus is a string', 'POST', '/v1/jobs', json({ command: ['x'], gpus: 'two' }), 400, /gpus: .*number/],
  ['negative gpus', 'POST', '/v1/jobs', json({ command: ['x'], gpus: -1 }), 400, /gpus: .*>=0/],
  ['fractional gpus', 'POST', '/v1/jobs', json({ command: ['x'], gpus: 0.5 }), 400, /gpus: .*int/i],
  ['absurd gpus', 'POST', '/v1/jobs', json({ command: ['x'], gpus: 100000 }), 400, /gpus: .*<=64/],
  ['more GPUs than any node has', 'POST', '/v1/jobs', json({ command: ['x'], gpus: 5 }), 422, /5 GPUs.*4/],
  ['selector matches no node', 'POST', '/v1/jobs', json({ command: ['x'], gpus: 1, nodeSelector: { 'gpu-model': 'H200' } }), 422, /nodeSelector|gpu-model/],
  ['unknown field', 'POST', '/v1/jobs', json({ command: ['x'], gpu: 1 }), 400, /unknown field.*"gpu"/],
  ['command is a string', 'POST', '/v1/jobs', json({ command: 'echo hi' }), 400, /command: /],
  ['no command', 'POST', '/v1/jobs', json({ name: 'x' }), 400, /command/],
  ['empty program', 'POST', '/v1/jobs', json({ command: [''] }), 400, /command: .*empty/],
  ['command and shell', 'POST', '/v1/jobs', json({ command: ['x'], shell: 'y' }), 400, /shell: .*not both/],
  ['bad type', 'POST', '/v1/jobs', json({ type: 'gpu', command: ['x'] }), 400, /type: /],
  ['negative priority beyond range', 'POST', '/v1/jobs', json({ command: ['x'], priority: -5000 }), 400, /priority: /],
  ['maxAttempts zero', 'POST', '/v1/jobs', json({ command: ['x'], maxAttempts: 0 }), 400, /maxAttempts: /],
  ['relative cwd', 'POST', '/v1/jobs', json({ command: ['x'], cwd: 'tmp' }), 400, /cwd: .*absolute/],
  ['reserved env', 'POST', '/v1/jobs', json({ command: ['x'], env: { CUDA_VISIBLE_DEVICES: '3' } }), 400, /env\.CUDA_VISIBLE_DEVICES: .*set by gpuq/],
  ['env value not a string', 'POST', '/v1/jobs', json({ command: ['x'], env: { A: 1 } }), 400, /env\.A: /],
  ['bad queue name', 'POST', '/v1/jobs', json({ command: ['x'], queue: '../etc' }), 400, /queue: /],
  ['zero timeout', 'POST', '/v1/jobs', json({ command: ['x'], timeoutSeconds: 0 }), 400, /timeoutSeconds: /],
  ['body is an array', 'POST', '/v1/jobs', json([{ command: ['x'] }]), 400, /job spec object/],
  ['batch with one bad job stores none', 'POST', '/v1/jobs', json({ jobs: [{ command: ['ok'] }, { command: ['x'], gpus: -2 }] }), 400, /jobs\.1\.gpus: /],
  ['batch is not an array', 'POST', '/v1/jobs', json({ jobs: { command: ['x'] } }), 400, /jobs: .*array/],
  ['empty batch', 'POST', '/v1/jobs', json({ jobs: [] }), 400, /at least one/],
  ['batch too large', 'POST', '/v1/jobs', json({ jobs: Array.from({ length: 5001 }, () => ({ type: 'noop' })) }), 400, /at most 5000/],
  ['malformed JSON', 'POST', '/v1/jobs', '{"command": ["x"', 400, /malformed request/],
  ['oversized body', 'POST', '/v1/jobs', json({ command: ['x'], name: big }), 413, /larger than the server accepts/],
  ['wrong content type', 'POST', '/v1/jobs', 'command=x', 415, /application\/json/, 'application/x-www-form-urlencoded'],
  ['job ID not a number', 'GET', '/v1/jobs/abc', undefined, 400, /id: .*positive integer/],
  ['job ID zero', 'GET', '/v1/jobs/0', undefined, 400, /id: /],
  ['unknown job ID', 'GET', '/v1/jobs/999999', undefined, 404, /job 999999 not found/],
  ['cancel an unknown job', 'POST', '/v1/jobs/999999/cancel', '{}', 404, /not found/],
  ['bad state filter', 'GET', '/v1/jobs?state=runing', undefined, 400, /state/],
  ['limit too large', 'GET', '/v1/jobs?limit=100000', undefined, 400, /limit: /],
  ['unknown query parameter', 'GET', '/v1/jobs?colour=red', undefined, 400, /colour/],
  ['bad maintenance mode', 'POST', '/v1/control/maintenance', json({ mode: 'off' }), 400, /mode: /],
  ['replay with neither ids nor all', 'POST', '/v1/dlq/replay', json({ id: 3 }), 400, /ids|all/],
  ['logs of an attempt that does not exist', 'GET', '/v1/jobs/1/logs?attempt=9', undefined, 404, /no attempt 9/],
  ['unknown route', 'GET', '/v1/gpus', undefined, 404, /no route/],
];

/**
 * A raw HTTP request. A body over 1 MiB is declared in full (content-length) but only its
 * first 64 KiB are sent: the server must refuse it by its declared size, and waiting for
 * the answer before sending the rest avoids the reset a server may send when it closes a
 * connection with unread data.
 */
function send(method: string, path: string, body: string | undefined, contentType = 'application/json'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(gpuq.url + path, { method, agent: false, headers: body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: text });
        req.destroy();
      });
    });
    req.on('error', (e) => reject(e));
    if (body !== undefined && body.length > 1024 * 1024) req.write(body.slice(0, 65536));
    else req.end(body);
  });
}

describe('bad input', () => {
  it(`has a table of at least 20 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
  });

  it.each(CASES)('%s: %s %s is refused with a message', async (_name, method, path, body, status, message, contentType) => {
    const res = await send(method, path, body, contentType);
    expect(res.status).toBe(status);
    const payload = JSON.parse(res.body) as { error: { code: string; message: string } };
    expect(payload.error.code).toMatch(/^[A-Z_]+$/);
    expect(payload.error.message).toMatch(message);
    // The server is still up and the store is unchanged.
    expect((await fetch(`${gpuq.url}/healthz`).then((r) => r.json()))).toEqual({ status: 'ok' });
    expect(await storeState()).toBe(before);
  });
});
