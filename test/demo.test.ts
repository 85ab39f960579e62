/** `gpuq demo`: on a fresh data directory it starts gpuq itself; with a gpuq answering, it uses that one. */
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

let reused: GpuqProcess | undefined;
afterAll(() => reused?.stop());

describe('gpuq demo', () => {
  it('starts a gpuq of its own, runs the sample sharded over its GPUs, checks it against the closed form, and stops with --exit', async () => {
    const port = await freePort();
    const dataDir = tempDir();
    const r = await runCli(['demo', '--url', `http://127.0.0.1:${port}`, '--data-dir', dataDir, '--fake-gpus', '2', '--paths', '400000', '--exit']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`nothing answered at http://127.0.0.1:${port}, so gpuq is now up there \\(data: ${dataDir}, 2 SIMULATED GPUs\\)`));
    expect(r.stderr).toMatch(/2 shards, one GPU each, over 1 node/);
    expect(r.stdout).toMatch(/400,000 paths, seed 1/);
    // The sample is one stock: mean, VaR and ES at three levels, each checked.
    expect(r.stdout.match(/ok \(\|z\| ≤ 4\)/g)).toHaveLength(7);
    expect(r.stdout).toMatch(/The run was 2 shard jobs \(1, 2\) and reduce job 3/);
    expect(r.stdout).toContain(`curl http://127.0.0.1:${port}/v1/jobs/3/result`);
    // Its files are under the data directory; and with --exit the server is gone.
    expect(r.stderr).toContain(`files in ${path.join(dataDir, 'risk')}`);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('uses a gpuq that already answers, and leaves it running', async () => {
    reused = await startGpuq({ fakeGpus: 1 });
    const r = await runCli(['demo', '--url', reused.url, '--paths', '100000'], {}, undefined, tempDir());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`gpuq demo: using the gpuq at ${reused.url}`);
    expect(r.stderr).toMatch(/1 shard, one GPU each/);
    const jobs = (await reused.client.list({ limit: 10 })).jobs;
    expect(jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded']);
    expect((await reused.client.health()).status).toBe('ok');
  });
});
