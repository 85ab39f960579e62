import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GpuqApiError } from '../src/sdk/client.js';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess | null = null;
afterEach(async () => {
  await gpuq?.stop();
  gpuq = null;
  expect(leakedServers()).toBe(0);
});

describe('drain (maintenance mode)', () => {
  it('refuses submissions with 503, lets running jobs finish, starts nothing new, and resume starts the queued ones', async () => {
    const dataDir = tempDir();
    const dir = tempDir('gpuq-drain-');
    gpuq = await startGpuq({ dataDir, fakeGpus: 1 });
    const wait = `touch ${dir}/$GPUQ_JOB_ID.started; while [ ! -f ${dir}/release ]; do sleep 0.02; done`;
    const running = await gpuq.client.submit({ shell: wait, gpus: 1 });
    const queued = await gpuq.client.submit({ shell: `touch ${dir}/$GPUQ_JOB_ID.started`, gpus: 1 });
    await until('the first job to start', () => existsSync(path.join(dir, `${running.job.id}.started`)));

    const drained = await gpuq.client.setMaintenance('drain');
    expect(drained).toEqual({ mode: 'drain', running: 1 });
    const refused = await gpuq.client.submit({ type: 'noop' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GpuqApiError);
    expect((refused as GpuqApiError).status).toBe(503);
    expect((refused as GpuqApiError).code).toBe('DRAINING');
    expect((refused as GpuqApiError).message).toMatch(/draining/);
    const health = await gpuq.client.health();
    expect(health.maintenance).toBe('drain');

    // The mode survives a restart (graceful stop and start: the running job is stopped and requeued).
    writeFileSync(path.join(dir, 'release'), '');
    const first = await waitForJobs(gpuq.client, [running.job.id], Date.now() + 20_000);
    expect(first.jobs[0]!.state).toBe('succeeded');
    await gpuq.stop();
    gpuq = await startGpuq({ dataDir, fakeGpus: 1 });
    expect((await gpuq.client.health()).maintenance).toBe('drain');
    expect((await gpuq.client.submit({ type: 'noop' }).catch((e: GpuqApiError) => e.status))).toBe(503);

    // Nothing new started while draining, although the GPU is free: the scheduler ran passes meanwhile.
    const ready = await fetch(`${gpuq.url}/health/ready`).then((r) => r.json() as Promise<{ scheduler: { ok: boolean } }>);
    expect(ready.scheduler.ok).toBe(true);
    expect((await gpuq.client.get(queued.job.id)).job.state).toBe('queued');
    expect(existsSync(path.join(dir, `${queued.job.id}.started`))).toBe(false);

    expect(await gpuq.client.setMaintenance('normal')).toMatchObject({ mode: 'normal' });
    const after = await waitForJobs(gpuq.client, [queued.job.id], Date.now() + 20_000);
    expect(after.jobs[0]!.state).toBe('succeeded');
    expect(existsSync(path.join(dir, `${queued.job.id}.started`))).toBe(true);
    expect((await gpuq.client.submit({ type: 'noop' })).created).toBe(true);
  });
});
