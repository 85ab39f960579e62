import { parsePoolSpec, type Pool, type PoolReplica, type PoolSpecInput } from './pool-spec.js';

/** Pools and replicas for the tests of the pool controller's pure decisions (pool-scaling, pool-eviction). */

export const NOW = 1_000_000;

export function poolOf(input: Partial<PoolSpecInput> & { name: string }, extra: Partial<Pool> = {}): Pool {
  return { name: input.name, spec: parsePoolSpec({ command: ['w'], ...input }), state: 'active', generation: 1, createdAt: 0, updatedAt: 0, ...extra };
}

let nextJob = 1;
export function replicaOf(pool: Pool, state: PoolReplica['state'], extra: Partial<PoolReplica> = {}): PoolReplica {
  const placed = state !== 'pending';
  return {
    jobId: nextJob++,
    pool: pool.name,
    generation: pool.generation,
    state,
    nodeId: placed ? 'n1' : null,
    devices: placed ? Array.from({ length: pool.spec.gpus }, (_, i) => i) : [],
    attemptId: placed && state !== 'ended' ? 1 : null,
    createdAt: NOW - 60_000,
    startedAt: placed ? NOW - 50_000 : null,
    readyAt: state === 'ready' || state === 'stopping' ? NOW - 40_000 : null,
    endedAt: state === 'ended' ? NOW - 1000 : null,
    endReason: null,
    endDetail: null,
    stopRequested: state === 'stopping',
    tasksDone: 0,
    lastActiveAt: state === 'ready' ? NOW - 1000 : null,
    ...extra,
  };
}
