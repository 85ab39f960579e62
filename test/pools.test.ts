import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuqApiError, type PoolTask, type PoolView } from '../src/sdk/client.js';
import { startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { markedProcesses, metricsOf, metricValue, MODEL_WORKER } from './helpers/pools.js';

// Warm worker pools on one real `gpuq up` (SQLite, four simulated GPUs): real replica hosts and workers
// (test/fixtures/pools/model-worker.mjs), killed and evicted for real.
let gpuq: GpuqProcess;
beforeAll(async () => {
  gpuq = await startGpuq({ fakeGpus: 4 });
});
afterAll(async () => {
  await gpuq.stop();
});

const worker = [process.execPath, MODEL_WORKER];
const client = () => gpuq.client;
const pool = async (name: string): Promise<PoolView> => (await client().getPool(name)).pool;
const tasksOf = async (name: string): Promise<PoolTask[]> => {
  const out: PoolTask[] = [];
  let cursor: string | undefined;
  do {
    const page = await client().listTasks(name, { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.tasks);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out;
};
/** Waits until every task of the pool has ended; returns them by id. */
const allEnded = async (name: string, count: number, timeoutMs = 60_000): Promise<PoolTask[]> =>
  until(`${count} tasks of ${name} to end`, async () => {
    const tasks = await tasksOf(name);
    return tasks.length === count && tasks.every((t) => ['succeeded', 'failed', 'cancelled'].includes(t.state)) ? tasks.sort((a, b) => a.id - b.id) : undefined;
  }, timeoutMs, 100);
const deletePool = async (name: string) => {
  const { pool: view } = await client().getPool(name);
  await client().deletePool(name);
  const ids = view.replicas.map((r) => r.jobId);
  await until(`the processes of pool ${name} to end`, () => markedProcesses(ids).length === 0, 30_000, 100);
};

describe('warm worker pools', () => {
  it('two replicas load their model once each and answer 5,000 tasks, each correctly', async () => {
    const loads = path.join(tempDir('gpuq-pool-'), 'loads');
    await client().createPool({ name: 'model', command: worker, env: { MODEL_LOAD_MS: '1000', LOAD_COUNT_FILE: loads }, gpus: 1, minReplicas: 2, maxReplicas: 2, concurrency: 16 });
    const xs = Array.from({ length: 5000 }, (_, i) => i + 1);
    const { tasks } = await client().submitTasks('model', xs.map((x) => ({ payload: { op: 'square', x } })), { wait: 120 });
    expect(tasks).toHaveLength(5000);
    expect(tasks.map((t) => t.state)).toEqual(xs.map(() => 'succeeded'));
    expect(tasks.map((t) => (t.result as { y: number }).y)).toEqual(xs.map((x) => x * x));
    expect(tasks.every((t) => t.attempts === 1)).toBe(true);

    const view = await pool('model');
    expect(view.replicas).toHaveLength(2);
    expect(view.replicas.map((r) => r.state)).toEqual(['ready', 'ready']);
    expect(view.replicas.map((r) => r.devices.length)).toEqual([1, 1]);
    expect(view.replicas[0]!.devices[0]).not.toBe(view.replicas[1]!.devices[0]);
    expect(view.replicas.reduce((n, r) => n + r.tasksDone, 0)).toBe(5000);
    expect(view.gpusHeld).toBe(2);
    // The model was loaded once per replica start, by the processes that answered: not once per task.
    const loaders = readFileSync(loads, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[0]));
    expect(loaders).toHaveLength(2);
    expect(new Set(tasks.map((t) => (t.result as { pid: number }).pid))).toEqual(new Set(loaders));
    // Replicas are jobs: they show on the node with the GPUs they hold.
    const { nodes } = await client().nodes();
    const held = nodes.flatMap((n) => n.devices.filter((d) => view.replicas.some((r) => r.nodeId === n.id && r.devices.includes(d.index))));
    expect(held).toHaveLength(2);
    const metrics = await metricsOf(gpuq.url);
    expect(metricValue(metrics, 'gpuq_pool_tasks_total', { pool: 'model', outcome: 'succeeded' })).toBe(5000);
    expect(metricValue(metrics, 'gpuq_pool_replicas', { pool: 'model', state: 'ready' })).toBe(2);
    expect(metricValue(metrics, 'gpuq_pool_task_run_seconds_count', { pool: 'model' })).toBe(5000);
    await deletePool('model');
  }, 180_000);

  it('kill -9 of a worker and of a replica host with tasks in flight: every task answered once, the lost deliveries recorded as attempts', async () => {
    await client().createPool({ name: 'crashy', command: worker, gpus: 1, minReplicas: 2, maxReplicas: 2, concurrency: 4, maxAttempts: 5 });
    const submitted = await client().submitTasks('crashy', Array.from({ length: 60 }, () => ({ payload: { op: 'sleep', ms: 400 } })));
    const ready = await until('two ready replicas holding tasks', async () => {
      const view = await pool('crashy');
      const running = (await tasksOf('crashy')).filter((t) => t.state === 'running');
      const live = view.replicas.filter((r) => r.state === 'ready');
      return live.length === 2 && live.every((r) => running.some((t) => t.replicaJobId === r.jobId)) ? live : undefined;
    }, 30_000);
    const [a, b] = ready.map((r) => r.jobId) as [number, number];
    const procs = markedProcesses([a, b]);
    const workerA = procs.find((p) => p.jobId === a && p.worker);
    const hostB = procs.find((p) => p.jobId === b && !p.worker);
    expect(workerA).toBeDefined();
    expect(hostB).toBeDefined();
    process.kill(workerA!.pid, 'SIGKILL');
    process.kill(hostB!.pid, 'SIGKILL');

    const tasks = await allEnded('crashy', 60);
    expect(tasks.map((t) => t.state)).toEqual(submitted.tasks.map(() => 'succeeded'));
    for (const t of tasks) expect(t.attempts).toBe(t.history.length + 1);
    const lost = tasks.filter((t) => t.history.length > 0);
    expect(lost.length).toBeGreaterThan(0);
    expect(new Set(lost.flatMap((t) => t.history.map((h) => h.replicaJobId)))).toEqual(new Set([a, b]));
    // Redelivered to replicas that were alive, never back to a dead one.
    for (const t of lost) expect([a, b]).not.toContain(t.replicaJobId);

    const view = await pool('crashy');
    const ended = view.replicas.filter((r) => r.jobId === a || r.jobId === b);
    expect(ended.map((r) => r.state)).toEqual(['ended', 'ended']);
    // The worker's death its host saw and reported; the host's own, from its job's end.
    expect(ended.map((r) => [r.jobId, r.endReason])).toEqual([[a, 'crashed'], [b, 'crashed']]);
    expect(ended[0]!.endDetail).toMatch(/^the worker was killed by SIGKILL, not sent by gpuq holding [1-4] task\(s\)$/);
    const metrics = await metricsOf(gpuq.url);
    // One result per task: the outcome counter holds each task once, whatever the deliveries.
    expect(metricValue(metrics, 'gpuq_pool_tasks_total', { pool: 'crashy', outcome: 'succeeded' })).toBe(60);
    expect(metricValue(metrics, 'gpuq_pool_redeliveries_total', { pool: 'crashy', reason: 'replica-ended' })).toBe(lost.reduce((n, t) => n + t.history.length, 0));
    await deletePool('crashy');
  }, 120_000);

  it('scales to zero after the idle timeout; the next task starts a replica and its cold start is reported', async () => {
    await client().createPool({ name: 'idle', command: worker, env: { MODEL_LOAD_MS: '200' }, gpus: 1, minReplicas: 0, maxReplicas: 1, idleTimeoutSeconds: 1 });
    expect((await pool('idle')).replicas).toEqual([]);
    const first = await client().submitTask('idle', { op: 'square', x: 3 }, { wait: 60 });
    expect(first.task).toMatchObject({ state: 'succeeded', cold: true, result: { y: 9 } });
    const firstReplica = first.task.replicaJobId!;
    await until('the idle replica to end', async () => (await pool('idle')).replicas.find((r) => r.jobId === firstReplica)?.endReason === 'idle', 20_000, 100);
    await until('its processes to end', () => markedProcesses([firstReplica]).length === 0, 20_000, 100);
    expect((await pool('idle')).replicas.filter((r) => r.state !== 'ended')).toEqual([]);

    const second = await client().submitTask('idle', { op: 'square', x: 4 }, { wait: 60 });
    expect(second.task).toMatchObject({ state: 'succeeded', cold: true, result: { y: 16 } });
    expect(second.task.replicaJobId).not.toBe(firstReplica);
    const { coldStart } = await pool('idle');
    expect(coldStart).toMatchObject({ taskId: second.task.id, replicaJobId: second.task.replicaJobId });
    // accepted → replica ready (the 200 ms load) → result.
    expect(coldStart!.replicaReadyAt! - coldStart!.acceptedAt).toBeGreaterThanOrEqual(200);
    expect(coldStart!.resultAt).toBeGreaterThanOrEqual(coldStart!.replicaReadyAt!);
    // A task while the replica is ready is warm.
    const warm = await client().submitTask('idle', { op: 'square', x: 5 }, { wait: 60 });
    expect(warm.task.cold).toBe(false);
    const metrics = await metricsOf(gpuq.url);
    expect(metricValue(metrics, 'gpuq_pool_cold_starts_total', { pool: 'idle' })).toBe(2);
    expect(metricValue(metrics, 'gpuq_pool_cold_start_seconds_count', { pool: 'idle' })).toBe(2);
    expect(metricValue(metrics, 'gpuq_pool_replica_ends_total', { pool: 'idle', reason: 'idle' })).toBe(1);
    await deletePool('idle');
  }, 90_000);

  it('stop lets in-flight tasks finish; evict kills now and requeues them for the next replica', async () => {
    await client().createPool({ name: 'grace', command: worker, gpus: 1, minReplicas: 1, maxReplicas: 1, concurrency: 2, graceSeconds: 5 });
    const running = async (ids: number[]) =>
      until('both tasks to run', async () => ((await tasksOf('grace')).filter((t) => ids.includes(t.id) && t.state === 'running').length === 2 ? true : undefined), 30_000);

    const slow = await client().submitTasks('grace', [{ payload: { op: 'sleep', ms: 1500 } }, { payload: { op: 'sleep', ms: 1500 } }]);
    const slowIds = slow.tasks.map((t) => t.id);
    await running(slowIds);
    await client().stopPool('grace');
    await expect(client().submitTask('grace', { op: 'noop' })).rejects.toMatchObject({ status: 409, code: 'POOL_STOPPED' });
    const stopped = (await allEnded('grace', 2)).filter((t) => slowIds.includes(t.id));
    expect(stopped.map((t) => [t.state, t.attempts])).toEqual([['succeeded', 1], ['succeeded', 1]]);
    const first = await until('the stopped replica to end', async () => (await pool('grace')).replicas.find((r) => r.state === 'ended'), 20_000);
    expect(first.endReason).toBe('stopped');
    expect(first.tasksDone).toBe(2);
    expect((await pool('grace')).replicas.filter((r) => r.state !== 'ended')).toEqual([]);

    await client().startPool('grace');
    const held = await client().submitTasks('grace', [{ payload: { op: 'sleep', ms: 2500 } }, { payload: { op: 'sleep', ms: 2500 } }]);
    const heldIds = held.tasks.map((t) => t.id);
    await running(heldIds);
    const victim = (await tasksOf('grace')).find((t) => t.id === heldIds[0])!.replicaJobId!;
    const evictedAt = Date.now();
    const { evicted } = await client().evictPool('grace', 'making room');
    expect(evicted).toEqual([victim]);
    // Killed at once, not after the 2.5 s its tasks needed; the pool is stopped and the tasks are back in its queue.
    const gone = await until('the evicted replica to end', async () => (await pool('grace')).replicas.find((r) => r.jobId === victim && r.state === 'ended'), 10_000);
    expect(gone.endReason).toBe('evicted');
    expect(gone.endDetail).toContain('making room');
    expect(gone.endedAt! - evictedAt).toBeLessThan(2500);
    expect((await pool('grace')).state).toBe('stopped');
    const requeued = await until('the evicted tasks to be requeued', async () => {
      const ts = (await tasksOf('grace')).filter((t) => heldIds.includes(t.id));
      return ts.every((t) => t.state === 'queued' && t.history.length === 1) ? ts : undefined;
    }, 10_000);
    for (const t of requeued) expect(t.history).toEqual([expect.objectContaining({ attempt: 1, replicaJobId: victim })]);
    // Started again, the pool delivers them to a fresh replica.
    await client().startPool('grace');
    const tasks = (await allEnded('grace', 4)).filter((t) => heldIds.includes(t.id));
    expect(tasks.map((t) => [t.state, t.attempts])).toEqual([['succeeded', 2], ['succeeded', 2]]);
    for (const t of tasks) expect(t.replicaJobId).not.toBe(victim);
    const metrics = await metricsOf(gpuq.url);
    expect(metricValue(metrics, 'gpuq_pool_evictions_total', { pool: 'grace', reason: 'evicted' })).toBe(1);
    expect(metricValue(metrics, 'gpuq_pool_replica_ends_total', { pool: 'grace', reason: 'stopped' })).toBe(1);
    await deletePool('grace');
  }, 90_000);

  it('stop-all stops every pool and leaves no process behind', async () => {
    for (const name of ['left', 'right']) await client().createPool({ name, command: worker, gpus: 1, minReplicas: 1, maxReplicas: 1 });
    const replicas = await until('a ready replica in each pool', async () => {
      const views = await Promise.all(['left', 'right'].map(pool));
      const live = views.flatMap((v) => v.replicas.filter((r) => r.state === 'ready'));
      return live.length === 2 ? live.map((r) => r.jobId) : undefined;
    });
    // Each replica is a host and its worker, both marked.
    expect(markedProcesses(replicas).length).toBe(4);
    const { stopped } = await client().stopAllPools();
    expect(stopped.sort()).toEqual(['left', 'right']);
    await until('every replica process to end', () => markedProcesses(replicas).length === 0, 30_000, 100);
    for (const name of ['left', 'right']) {
      const view = await until(`pool ${name}'s replica to end`, async () => {
        const v = await pool(name);
        return v.replicas.every((r) => r.state === 'ended') ? v : undefined;
      }, 10_000);
      expect(view.state).toBe('stopped');
      expect(view.replicas.map((r) => [r.state, r.endReason])).toEqual([['ended', 'stopped']]);
    }
    const audit = await client().audit({ action: 'pools.stop-all' });
    expect(audit.entries.map((e) => [e.action, e.outcome])).toEqual([['pools.stop-all', 'ok']]);
    for (const name of ['left', 'right']) await deletePool(name);
  }, 60_000);

  it('kills a replica that reports a CUDA out-of-memory error, and one over its GPU memory limit; counts both', async () => {
    await client().createPool({ name: 'oom', command: worker, gpus: 1, minReplicas: 0, maxReplicas: 1, maxAttempts: 2 });
    const { task } = await client().submitTask('oom', { op: 'oom' });
    const failed = await client().getTask('oom', task.id, { wait: 60 });
    // Each delivery killed its replica: the task went to the DLQ after its two attempts.
    expect(failed.task).toMatchObject({ state: 'failed', inDlq: true, attempts: 2 });
    const oomEnds = (await pool('oom')).replicas.filter((r) => r.endReason === 'oom');
    expect(oomEnds).toHaveLength(2);
    expect(oomEnds[0]!.endDetail).toContain('CUDA out of memory');

    // Simulated GPUs use half their memory while held (src/agent/devices/fake-gpus.ts): a limit under that is reached.
    await client().createPool({ name: 'greedy', command: worker, gpus: 1, minReplicas: 1, maxReplicas: 1, memoryPolicy: { killOnOom: true, gpuMemoryLimitMb: 30_000 } });
    const killed = await until('a replica over its GPU memory limit to be killed', async () => (await pool('greedy')).replicas.find((r) => r.endReason === 'oom'), 30_000, 100);
    expect(killed.endDetail).toMatch(/memory reached \d+ MiB; the pool's limit is 30000 MiB/);
    // Counted once its end is seen (the controller's next pass).
    await until('the GPU-memory kill to be counted', async () => metricValue(await metricsOf(gpuq.url), 'gpuq_pool_oom_kills_total', { pool: 'greedy' }) >= 1, 10_000);
    expect(metricValue(await metricsOf(gpuq.url), 'gpuq_pool_oom_kills_total', { pool: 'oom' })).toBe(2);
    await deletePool('oom');
    await deletePool('greedy');
  }, 90_000);

  it('refuses bad input with a clear error and changes nothing; restarts a worker that writes garbage', async () => {
    const before = (await client().listPools()).pools.map((p) => p.name);
    await expect(client().createPool({ name: 'Bad Name', command: [] } as never)).rejects.toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    const bad = await client().createPool({ name: 'bad', command: worker, minReplicas: 3, maxReplicas: 2 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(GpuqApiError);
    expect((bad as GpuqApiError).message).toMatch(/minReplicas/);
    expect((await client().listPools()).pools.map((p) => p.name)).toEqual(before);

    await expect(client().submitTask('missing', { op: 'noop' })).rejects.toMatchObject({ status: 404, code: 'POOL_NOT_FOUND' });
    await client().createPool({ name: 'garbage', command: worker, env: { GARBAGE_AT_START: '1' }, gpus: 1, minReplicas: 1, maxReplicas: 1 });
    const big = await client().submitTask('garbage', { blob: 'x'.repeat(1024 * 1024) }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(GpuqApiError);
    expect([400, 413]).toContain((big as GpuqApiError).status);
    expect((await tasksOf('garbage'))).toEqual([]);

    // A worker that prints something other than the protocol is not trusted: its replica ends (protocol-error) and another is started.
    const ended = await until('two replicas ended for breaking the protocol', async () => {
      const gone = (await pool('garbage')).replicas.filter((r) => r.endReason === 'protocol-error');
      return gone.length >= 2 ? gone : undefined;
    }, 60_000, 100);
    expect(ended[0]!.endDetail).toContain('Loading model... done');
    expect(ended.every((r) => r.readyAt === null)).toBe(true);

    // The replicas' own routes take no API token but their attempt's credential: a forged one claims nothing.
    const { task: waiting } = await client().submitTask('garbage', { op: 'noop' });
    const forged = await fetch(`${gpuq.url}/v1/pools/garbage/replicas/${ended[0]!.jobId}/exchange`, {
      method: 'POST',
      headers: { authorization: 'Bearer forged', 'content-type': 'application/json' },
      body: JSON.stringify({ attemptId: ended[0]!.attemptId, results: [], held: [], want: 10, waitMs: 0 }),
    });
    expect(forged.status).toBe(410);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('REPLICA_GONE');
    expect((await client().getTask('garbage', waiting.id)).task).toMatchObject({ state: 'queued', attempts: 0 });
    await deletePool('garbage');
  }, 120_000);
});
