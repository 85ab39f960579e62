import { expect } from 'vitest';
import { parseJobSpec, type JobSpec } from '../../core/job-spec.js';
import { parsePoolSpec, type PoolSpec, type PoolSpecInput } from '../../core/pool-spec.js';
import type { Store } from '../store.js';
import { node, start, T0 } from './fixtures.js';

/** Shared data and steps of the pool parts of the Store contract (pool-contract.ts, pool-task-contract.ts). */

export function poolSpec(name = 'p', over: Partial<PoolSpecInput> = {}): PoolSpec {
  return parsePoolSpec({ name, command: ['python', 'worker.py'], ...over });
}

/** A replica's job as the pool controller submits it (ADR 0016): an exec job of the replica host, one attempt. */
export function replicaJob(pool: string, gpus = 0): JobSpec {
  return parseJobSpec({
    gpus,
    type: 'exec',
    command: ['gpuq-pool-host', '--pool', pool, '--', 'python', 'worker.py'],
    name: `pool:${pool}`,
    queue: `pool.${pool}`,
    labels: { 'gpuq.pool': pool },
    maxAttempts: 1,
  });
}

/** Records one replica of the pool (at its current generation); returns its job id. */
export async function addReplica(store: Store, pool: string, now = T0): Promise<number> {
  const p = await store.getPool(pool);
  const [r] = await store.startReplicas(pool, p!.generation, [replicaJob(pool, p!.spec.gpus)], now);
  expect(r?.state).toBe('pending');
  return r!.jobId;
}

/** A replica placed on node `n1` (registered here when missing), running, and ready; returns its job and attempt. */
export async function readyReplica(store: Store, pool: string, now = T0): Promise<{ jobId: number; attemptId: number }> {
  if (!(await store.getNode('n1'))) await store.upsertNode(node('n1', 0));
  const jobId = await addReplica(store, pool, now);
  const attemptId = await start(store, jobId, 'n1', [], now);
  expect(await store.markReplicaReady(jobId, attemptId, now)).toBe(true);
  return { jobId, attemptId };
}

/** Submits tasks with payloads {n: 0}, {n: 1}, …; returns their ids. */
export async function submitTasks(store: Store, pool: string, count: number, now = T0): Promise<number[]> {
  const out = await store.submitTasks(pool, Array.from({ length: count }, (_, n) => ({ payloadJson: JSON.stringify({ n }) })), now);
  return out.map((o) => o.task.id);
}

/** A fixed random input for task backoffs, as the job contract uses. */
export const random = () => 0.5;
