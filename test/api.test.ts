import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 2, args: ['--node-name', 'box-a'] });
});
afterAll(async () => {
  await gpuq.stop();
});

const get = async <T>(path: string): Promise<T> => (await fetch(gpuq.url + path)).json() as Promise<T>;

describe('HTTP API', () => {
  it('pages through jobs newest first without gaps or repeats, and filters by queue, state and label', async () => {
    const specs = Array.from({ length: 25 }, (_, i) => ({ type: 'noop' as const, queue: i % 2 ? 'odd' : 'even', labels: { n: String(i), team: i < 5 ? 'a' : 'b' } }));
    const ids = (await gpuq.client.submitBatch(specs)).jobs.map((j) => j.id);
    await waitForJobs(gpuq.client, ids, Date.now() + 10_000);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await gpuq.client.list({ queue: 'odd', limit: 5, cursor });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(ids.filter((_, i) => i % 2).reverse());
    const teamA = await gpuq.client.list({ labels: { team: 'a' } });
    expect(teamA.jobs.map((j) => j.id).sort((x, y) => x - y)).toEqual(ids.slice(0, 5));
    expect((await gpuq.client.list({ labels: { team: 'a', n: '3' } })).jobs.map((j) => j.id)).toEqual([ids[3]]);
    expect((await gpuq.client.list({ state: ['queued'], queue: 'even' })).jobs).toHaveLength(0);
  });

  it('returns the first job for a second submit with the same idempotency key', async () => {
    const a = await gpuq.client.submit({ type: 'noop', idempotencyKey: 'nightly-2026-11-22' });
    const b = await gpuq.client.submit({ type: 'noop', idempotencyKey: 'nightly-2026-11-22', name: 'different' });
    expect(a.created).toBe(true);
    expect(b.created).toBe(false);
    expect(b.job.id).toBe(a.job.id);
  });

  it('sets the attempt environment: GPUs, job and attempt ids, artifacts dir', async () => {
    const { job } = await gpuq.client.submit({ shell: 'echo "$CUDA_VISIBLE_DEVICES|$NVIDIA_VISIBLE_DEVICES|$CUDA_DEVICE_ORDER|$GPUQ_JOB_ID|$GPUQ_ATTEMPT"; test -d "$GPUQ_ARTIFACTS_DIR" && echo artifacts-ok; pwd', gpus: 1, cwd: '/tmp' });
    await waitForJobs(gpuq.client, [job.id], Date.now() + 10_000);
    const [env, artifacts, cwd] = (await gpuq.client.logs(job.id)).trim().split('\n');
    const [cvd, nvd, order, jobId, attempt] = env!.split('|');
    expect(cvd).toMatch(/^[01]$/);
    expect(nvd).toBe(cvd);
    expect(order).toBe('PCI_BUS_ID');
    expect(jobId).toBe(String(job.id));
    expect(attempt).toBe('1');
    expect(artifacts).toBe('artifacts-ok');
    expect(cwd).toBe('/tmp');
    const cpu = await gpuq.client.submit({ shell: 'echo "[$CUDA_VISIBLE_DEVICES]"' });
    await waitForJobs(gpuq.client, [cpu.job.id], Date.now() + 10_000);
    expect(await gpuq.client.logs(cpu.job.id)).toBe('[]\n');
  });

  it('tails logs by lines', async () => {
    const { job } = await gpuq.client.submit({ shell: 'seq 1 1000' });
    await waitForJobs(gpuq.client, [job.id], Date.now() + 10_000);
    expect(await gpuq.client.logs(job.id, { tail: 3 })).toBe('998\n999\n1000\n');
  });

  it('serves health, readiness and a detailed report', async () => {
    expect(await get('/healthz')).toEqual({ status: 'ok' });
    const ready = await fetch(`${gpuq.url}/health/ready`);
    expect(ready.status).toBe(200);
    const d = await get<Record<string, any>>('/health/detailed');
    expect(d).toMatchObject({ status: 'ok', maintenance: 'normal', store: { ok: true, kind: 'sqlite' }, scheduler: { ok: true } });
    expect(d.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(d.agents).toEqual([expect.objectContaining({ node: 'box-a', state: 'up' })]);
    expect(d.devices).toHaveLength(2);
    expect(d.devices.every((x: { simulated: boolean }) => x.simulated)).toBe(true);
  });

  it('lists nodes with devices and telemetry, marked simulated', async () => {
    const { nodes } = await until('telemetry', async () => {
      const r = await gpuq.client.nodes();
      return r.nodes[0]?.devices.every((d) => d.telemetry !== null) ? r : undefined;
    });
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.devices.map((d) => [d.index, d.simulated])).toEqual([[0, true], [1, true]]);
    expect(nodes[0]!.labels['gpu-simulated']).toBe('true');
    const history = await get<{ samples: unknown[] }>('/v1/nodes/box-a/devices/0/telemetry');
    expect(history.samples.length).toBeGreaterThan(0);
  });

  it('exports Prometheus metrics for jobs, retries, DLQ, histograms and devices', async () => {
    const { job } = await gpuq.client.submit({ shell: 'exit 3', maxAttempts: 2, backoff: { initialSeconds: 0.01, maxSeconds: 0.01 } });
    await waitForJobs(gpuq.client, [job.id], Date.now() + 10_000);
    const text = await (await fetch(`${gpuq.url}/metrics`)).text();
    expect(text).toMatch(/^gpuq_jobs\{queue="default",state="succeeded"\} [1-9]\d*$/m);
    expect(text).toMatch(/^gpuq_jobs_finished_total\{queue="default",outcome="failed"\} [1-9]/m);
    expect(text).toMatch(/^gpuq_job_retries_total\{queue="default"\} [1-9]/m);
    expect(text).toMatch(/^gpuq_dlq_jobs\{queue="default"\} [1-9]/m);
    expect(text).toMatch(/^gpuq_job_queue_wait_seconds_bucket\{/m);
    expect(text).toMatch(/^gpuq_attempt_run_seconds_count\{queue="default"\} [1-9]/m);
    expect(text).toMatch(/^gpuq_scheduler_loop_seconds_count [1-9]/m);
    expect(text).toMatch(/^gpuq_lease_reclaims_total 0$/m);
    expect(text).toMatch(/^gpuq_device_utilization_ratio\{node="box-a",device="0",simulated="true",job_id="\d*",queue="[^"]*"\}/m);
    expect(text).toMatch(/^gpuq_device_temperature_celsius\{/m);
    expect(text).toMatch(/^gpuq_device_memory_used_bytes\{/m);
  });

  it('publishes an OpenAPI document covering every route', async () => {
    const doc = await get<{ openapi: string; paths: Record<string, unknown>; components: { schemas: { JobSpec: { properties: Record<string, unknown> } } } }>('/v1/openapi.json');
    expect(doc.openapi).toBe('3.1.0');
    for (const p of ['/v1/jobs', '/v1/jobs/{id}', '/v1/jobs/{id}/logs', '/v1/dlq/replay', '/v1/nodes', '/v1/control/maintenance', '/metrics', '/healthz']) expect(doc.paths).toHaveProperty([p]);
    expect(Object.keys(doc.components.schemas.JobSpec.properties)).toEqual(expect.arrayContaining(['gpus', 'command', 'priority', 'maxAttempts', 'backoff', 'idempotencyKey', 'nodeSelector']));
  });
});
