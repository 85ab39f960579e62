import { describe, expect, it } from 'vitest';
import type { PoolTask, TaskState } from '../../core/pool-spec.js';
import { TaskWaiters } from './task-waiters.js';

function task(id: number, state: TaskState): PoolTask {
  return { id, pool: 'p', state, idempotencyKey: null, payload: id, result: state === 'succeeded' ? id * 10 : null, error: null, attempts: 1, attemptLimit: 3, inDlq: false, notBefore: 0, replicaJobId: 1, cold: false, createdAt: 0, startedAt: 0, finishedAt: null, history: [] };
}

describe('TaskWaiters', () => {
  it('answers a result waiter once all its tasks are final, reading again only those still pending', async () => {
    const states = new Map<number, TaskState>([[1, 'running'], [2, 'queued'], [3, 'running']]);
    const reads: number[][] = [];
    const waiters = new TaskWaiters(async (_pool, ids) => {
      reads.push([...ids]);
      return ids.map((id) => task(id, states.get(id)!));
    });
    const answer = waiters.waitForResults('p', [3, 1, 2], 10_000);
    await new Promise((r) => setImmediate(r));
    states.set(1, 'succeeded');
    waiters.resultsChanged(['p']);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    states.set(2, 'failed');
    states.set(3, 'succeeded');
    waiters.resultsChanged(['p']);
    const tasks = await answer;
    expect(tasks.map((t) => [t.id, t.state])).toEqual([[3, 'succeeded'], [1, 'succeeded'], [2, 'failed']]);
    expect(reads).toEqual([[3, 1, 2], [3, 1, 2], [3, 2]]);
  });

  it('reads only the pending tasks an event names as ended, when it names them', async () => {
    const states = new Map<number, TaskState>([[1, 'running'], [2, 'running'], [3, 'running']]);
    const reads: number[][] = [];
    const waiters = new TaskWaiters(async (_pool, ids) => {
      reads.push([...ids]);
      return ids.map((id) => task(id, states.get(id)!));
    });
    const answer = waiters.waitForResults('p', [1, 2, 3], 10_000);
    await new Promise((r) => setImmediate(r));
    states.set(2, 'succeeded');
    waiters.resultsChanged(['p'], [2, 99]);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    states.set(1, 'succeeded');
    states.set(3, 'cancelled');
    waiters.resultsChanged(['p'], [1]);
    waiters.resultsChanged(['p'], [3]);
    expect((await answer).map((t) => t.state)).toEqual(['succeeded', 'succeeded', 'cancelled']);
    expect(reads).toEqual([[1, 2, 3], [2], [1, 3]]);
  });

  it('answers the tasks as they are when the wait runs out', async () => {
    const waiters = new TaskWaiters(async (_pool, ids) => ids.map((id) => task(id, 'queued')));
    expect((await waiters.waitForResults('p', [7], 20)).map((t) => t.state)).toEqual(['queued']);
  });
});
