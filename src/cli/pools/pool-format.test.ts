import { describe, expect, it } from 'vitest';
import { parsePoolSpec, type PoolReplica, type PoolTask } from '../../core/pool-spec.js';
import type { PoolView } from '../../core/pool-view.js';
import { taskRate as rate } from '../../core/pool-view.js';
import { coldStartLine, describePool, describeTask, poolRow, poolTable, replicaRow } from './pool-format.js';

const NOW = 1_700_000_000_000;

function replica(over: Partial<PoolReplica>): PoolReplica {
  return {
    jobId: 1, pool: 'embed', generation: 1, state: 'ready', nodeId: 'gpu-1', devices: [0], attemptId: 1, createdAt: NOW - 120_000, startedAt: NOW - 90_000,
    readyAt: NOW - 80_000, endedAt: null, endReason: null, endDetail: null, stopRequested: false, tasksDone: 12, lastActiveAt: NOW - 1000, ...over,
  };
}

function view(over: Partial<PoolView> = {}): PoolView {
  return {
    name: 'embed',
    spec: parsePoolSpec({ name: 'embed', command: ['python', 'worker.py'], gpus: 1, maxReplicas: 4, concurrency: 8, env: { MODEL: 'small' }, cwd: '/srv' }),
    state: 'active',
    generation: 2,
    createdAt: NOW - 3_600_000,
    updatedAt: NOW - 60_000,
    replicas: [
      replica({ jobId: 41 }),
      replica({ jobId: 42, state: 'starting', devices: [1], readyAt: null, tasksDone: 0 }),
      replica({ jobId: 40, state: 'ended', endedAt: NOW - 30_000, endReason: 'oom', endDetail: 'CUDA out of memory', tasksDone: 3 }),
    ],
    backlog: { runnable: 5, queued: 7, running: 8 },
    throughput: { succeededPerSecond: 12.345, failedPerSecond: 0 },
    gpusHeld: 2,
    coldStart: { taskId: 17, replicaJobId: 41, acceptedAt: NOW - 100_000, replicaReadyAt: NOW - 95_790, resultAt: NOW - 95_764 },
    ...over,
  };
}

describe('gpuq pool ls', () => {
  it('shows ready/live replicas with the maximum, GPUs held, backlog, throughput and the cold start', () => {
    expect(poolRow(view())).toEqual(['embed', 'active', '1/2 (max 4)', '2', '7', '8', '12.3', '4236 ms']);
    expect(poolRow(view({ throughput: { succeededPerSecond: 0, failedPerSecond: 0.5 }, coldStart: null, replicas: [] }))).toEqual(['embed', 'active', '0/0 (max 4)', '2', '7', '8', '0 (0.50 failed)', '-']);
    expect(poolTable([view()]).split('\n')[0]).toMatch(/^NAME\s+STATE\s+REPLICAS\s+GPUS\s+BACKLOG\s+RUNNING\s+TASKS\/S\s+COLD-START$/);
  });

  it('rounds rates to what reads at a glance', () => {
    expect([0, 0.01234, 0.5, 9.876, 123.45].map(rate)).toEqual(['0', '0.012', '0.50', '9.88', '123.5']);
  });
});

describe('gpuq pool show', () => {
  it('prints the definition, backlog, throughput, cold start and the replicas with their end reasons', () => {
    const text = describePool(view(), NOW);
    expect(text).toContain('pool embed  [active]  generation 2');
    expect(text).toContain('command      "python" "worker.py"');
    expect(text).toContain('per replica  gpus 1  cpus 0  memory 0 MiB  concurrency 8');
    expect(text).toContain('replicas     min 0  max 4  target backlog 10 per ready replica');
    expect(text).toContain('memory       kill on OOM  GPU memory limit -  eviction priority 0');
    expect(text).toContain('env          MODEL=small');
    expect(text).toContain('backlog      7 queued (5 runnable now)  8 running');
    expect(text).toContain('cold start   accepted → ready 4210 ms → result 4236 ms (task 17, replica 41)');
    expect(text).toMatch(/JOB\s+STATE\s+NODE\s+GPUS\s+UPTIME\s+TASKS\s+END-REASON/);
    expect(text).toMatch(/^41\s+ready\s+gpu-1\s+0\s+1m\s+12\s+-$/m);
    expect(text).toMatch(/^40\s+ended\s+gpu-1\s+0\s+1m\s+3\s+oom: CUDA out of memory$/m);
  });

  it('says when no cold start was measured and no replica runs', () => {
    const text = describePool(view({ coldStart: null, replicas: [] }), NOW);
    expect(text).toContain('cold start   - (none measured yet)');
    expect(text).toContain('replicas: none');
  });

  it('times a pending replica from its creation, and marks one asked to stop', () => {
    expect(replicaRow(replica({ jobId: 5, state: 'pending', nodeId: null, devices: [], startedAt: null, createdAt: NOW - 5000 }), NOW)).toEqual(['5', 'pending', '-', '-', '5.0s pending', '12', '-']);
    expect(replicaRow(replica({ stopRequested: true }), NOW)[1]).toBe('ready (stop asked)');
    expect(coldStartLine({ taskId: 1, replicaJobId: 2, acceptedAt: 0, replicaReadyAt: null, resultAt: 10 })).toBe('accepted → ready ? → result 10 ms (task 1, replica 2)');
  });
});

describe('gpuq pool task', () => {
  const task: PoolTask = {
    id: 17, pool: 'embed', state: 'succeeded', idempotencyKey: 'k1', payload: { op: 'square', x: 3 }, result: { y: 9 }, error: null, attempts: 2, attemptLimit: 3,
    inDlq: false, notBefore: NOW - 10_000, replicaJobId: 42, cold: true, createdAt: NOW - 10_000, startedAt: NOW - 9000, finishedAt: NOW - 8000,
    history: [{ attempt: 1, replicaJobId: 41, reason: 'replica ended (oom); redelivered (attempt 2/3)', at: NOW - 9500 }],
  };

  it('shows state, attempts, each redelivery and the result', () => {
    const text = describeTask(task, NOW);
    expect(text).toContain('task 17  pool embed  [succeeded]');
    expect(text).toContain('attempts 2/3  replica 42  cold');
    expect(text).toContain('key      k1');
    expect(text).toContain('payload  {"op":"square","x":3}');
    expect(text).toMatch(/^1\s+41\s+\S+\s+replica ended \(oom\); redelivered \(attempt 2\/3\)$/m);
    expect(text).toContain('result: {"y":9}');
    expect(text).not.toContain('error:');
  });

  it('shows the error of a failed task in the DLQ, and a backoff still running', () => {
    const failed = describeTask({ ...task, state: 'failed', inDlq: true, result: null, error: 'bad input (not retryable)', history: [] }, NOW);
    expect(failed).toContain('[failed, in DLQ]');
    expect(failed).toContain('error: bad input (not retryable)');
    expect(failed).not.toContain('result:');
    expect(describeTask({ ...task, state: 'queued', notBefore: NOW + 5000, finishedAt: null }, NOW)).toContain('next delivery not before');
  });
});
