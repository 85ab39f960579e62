import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attemptArtifactsDir } from '../../agent/attempt-output.js';
import { startLogServer, type LogServer } from '../../agent/log-server.js';
import type { AttemptOutput } from '../../core/job-output.js';
import { startTestServer, type TestServer } from '../test-server.js';

/**
 * The result and artifact routes through inject() on a real server over a real SQLite store (auth off).
 * No scheduler runs: attempts are placed and ended by hand, their files written where an agent keeps them;
 * a remote node's files are served by a real agent log server.
 */

const log = pino({ level: 'silent' });
let server: TestServer;
let dir: string;
let store: TestServer['store'];
let clock: TestServer['clock'];
let controlPlane: TestServer['controlPlane'];
let app: TestServer['app'];
let logServer: LogServer | null = null;

beforeEach(async () => {
  server = await startTestServer({ prefix: 'gpuq-results-', dataDirIn: (d) => join(d, 'server') });
  ({ dir, store, clock, controlPlane, app } = server);
  for (const id of ['local', 'remote']) await store.upsertNode({ id, hostname: id, labels: {}, cpus: 8, memoryMb: 65_536, maxRunning: 4, devices: [], incarnation: 'x', lastHeartbeatAt: clock.now(), state: 'up' });
});
afterEach(async () => {
  await logServer?.close();
  logServer = null;
  await server.close();
});

/** Runs one attempt of a new job on `nodeId` that leaves `files` in its artifacts dir (under `dataDir`) and reports `output`. */
async function ran(nodeId: string, dataDir: string, files: Record<string, string>, output: AttemptOutput): Promise<number> {
  const job = (await controlPlane.submit([{ command: ['true'] }]))[0]!.job;
  const [a] = await store.applyPlan([{ jobId: job.id, nodeId, devices: [] }], clock.now(), 30_000);
  const artifacts = attemptArtifactsDir(dataDir, job.id, 1);
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(artifacts, name, '..'), { recursive: true });
    writeFileSync(join(artifacts, name), content);
  }
  await controlPlane.reportEnded([{ attemptId: a!.attemptId, startedAt: clock.now(), end: { state: 'succeeded', retryable: false, reason: 'exited with code 0' }, exitCode: 0, signal: null, endedAt: clock.now(), output }]);
  return job.id;
}

const get = (url: string) => app.inject({ method: 'GET', url });
const files = { 'result.json': '{"var": 1.50}', 'sub/a.txt': 'alpha' };
const output: AttemptOutput = { result: '{"var": 1.50}', note: null, artifacts: [{ name: 'result.json', bytes: 13 }, { name: 'sub/a.txt', bytes: 5 }] };

describe('result and artifact routes', () => {
  it('answers the result as written, the list, and the files of the server\'s own agent', async () => {
    const id = await ran('local', join(dir, 'server'), files, output);
    const res = await get(`/v1/jobs/${id}/result`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.body).toBe(`{"jobId":${id},"attempt":1,"state":"succeeded","nodeId":"local","result":{"var": 1.50},"note":null,"artifacts":[{"name":"result.json","bytes":13},{"name":"sub/a.txt","bytes":5}]}`);
    expect((await get(`/v1/jobs/${id}/artifacts`)).json()).toEqual({ jobId: id, attempt: 1, state: 'succeeded', nodeId: 'local', note: null, artifacts: output.artifacts });
    for (const url of [`/v1/jobs/${id}/artifacts/sub/a.txt`, `/v1/jobs/${id}/artifacts/sub%2Fa.txt`, `/v1/jobs/${id}/artifacts/sub%2Fa.txt?attempt=1`]) {
      const file = await get(url);
      expect(file.statusCode, url).toBe(200);
      expect(file.body).toBe('alpha');
      expect(file.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'content-length': '5', 'x-gpuq-attempt': '1' });
    }
  });

  it('refuses names that could leave the directory (400), and answers 404 for unknown names, attempts and jobs', async () => {
    const id = await ran('local', join(dir, 'server'), files, output);
    for (const bad of ['..%2Fattempt-1.log', '%2Fetc%2Fpasswd', 'sub%2F..%2F..%2Fx', 'a%00b']) {
      const res = await get(`/v1/jobs/${id}/artifacts/${bad}`);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error.issues[0].path).toBe('*');
    }
    expect((await get(`/v1/jobs/${id}/artifacts/sub%2Fb.txt`)).json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no artifact "sub/b.txt"') });
    expect((await get(`/v1/jobs/${id}/result?attempt=2`)).statusCode).toBe(404);
    expect((await get(`/v1/jobs/${id}/result?attempt=0`)).statusCode).toBe(400);
    expect((await get('/v1/jobs/999/result')).json().error.code).toBe('JOB_NOT_FOUND');
    const job = (await controlPlane.submit([{ command: ['true'] }]))[0]!.job;
    expect((await get(`/v1/jobs/${job.id}/result`)).json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no result yet') });
  });

  it('proxies a remote node\'s files through its agent\'s log server; an agent out of reach is NODE_UNREACHABLE', async () => {
    const agentDir = join(dir, 'agent');
    const secret = 'a-secret-of-sixteen-or-more';
    logServer = await startLogServer({ host: '127.0.0.1', port: 0, dataDir: agentDir, secret, isRunning: () => false, log });
    await store.setNodeLogEndpoint('remote', { url: `http://127.0.0.1:${logServer.address.port}`, secret });
    const id = await ran('remote', agentDir, files, output);
    const file = await get(`/v1/jobs/${id}/artifacts/sub%2Fa.txt`);
    expect(file.statusCode, file.body).toBe(200);
    expect(file.body).toBe('alpha');
    expect(file.headers['content-length']).toBe('5');
    // Listed, but deleted from the agent's disk since: not found there.
    await rm(join(attemptArtifactsDir(agentDir, id, 1), 'sub'), { recursive: true });
    expect((await get(`/v1/jobs/${id}/artifacts/sub%2Fa.txt`)).json().error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no longer on node remote') });
    await logServer.close();
    logServer = null;
    const gone = await get(`/v1/jobs/${id}/artifacts/result.json`);
    expect(gone.statusCode).toBe(502);
    expect(gone.json().error).toMatchObject({ code: 'NODE_UNREACHABLE', message: expect.stringContaining('artifact "result.json"') });
  });

  it('has the agent\'s log server serve only its control plane, and only files inside the attempt\'s artifacts directory', async () => {
    const agentDir = join(dir, 'agent');
    const secret = 'another-secret-sixteen+';
    logServer = await startLogServer({ host: '127.0.0.1', port: 0, dataDir: agentDir, secret, isRunning: () => false, log });
    const artifacts = attemptArtifactsDir(agentDir, 7, 1);
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(join(artifacts, 'ok.txt'), 'fine');
    writeFileSync(join(agentDir, 'secret.txt'), 'not an artifact');
    symlinkSync(join(agentDir, 'secret.txt'), join(artifacts, 'escape'));
    const fetchName = (name: string, token = secret) =>
      fetch(`http://127.0.0.1:${logServer!.address.port}/attempts/9/artifact?job=7&number=1&name=${encodeURIComponent(name)}`, { headers: { authorization: `Bearer ${token}` } });
    const ok = await fetchName('ok.txt');
    expect([ok.status, await ok.text(), ok.headers.get('content-length')]).toEqual([200, 'fine', '4']);
    expect((await fetchName('ok.txt', 'wrong-secret-wrong-secret')).status).toBe(401);
    expect((await fetchName('../../secret.txt')).status).toBe(400);
    expect((await fetchName('/etc/passwd')).status).toBe(400);
    expect((await fetchName('escape')).status).toBe(404);
    expect((await fetchName('missing.txt')).status).toBe(404);
  });
});
