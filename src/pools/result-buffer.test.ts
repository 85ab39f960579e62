import { describe, expect, it } from 'vitest';
import { POOL_LIMITS } from '../core/pool-spec.js';
import { ResultBuffer } from './result-buffer.js';

const outcome = (taskId: number) => ({ taskId, attempt: 1, result: null });

describe('ResultBuffer', () => {
  it('hands out at most maxClaim results per exchange, oldest first', () => {
    const b = new ResultBuffer();
    for (let i = 1; i <= POOL_LIMITS.maxClaim + 5; i++) b.push(outcome(i), 10);
    const first = b.take();
    expect(first.results).toHaveLength(POOL_LIMITS.maxClaim);
    expect(first.results[0]?.taskId).toBe(1);
    expect(b.take().results.map((r) => r.taskId)).toEqual([1025, 1026, 1027, 1028, 1029]);
    expect(b.length).toBe(0);
  });

  it('keeps an exchange to about 4 MiB of results, but always takes one', () => {
    const b = new ResultBuffer();
    b.push(outcome(1), 3 * 1024 * 1024);
    b.push(outcome(2), 3 * 1024 * 1024);
    b.push(outcome(3), 9 * 1024 * 1024);
    expect(b.take().results.map((r) => r.taskId)).toEqual([1]);
    expect(b.take().results.map((r) => r.taskId)).toEqual([2]);
    expect(b.take().results.map((r) => r.taskId)).toEqual([3]);
  });

  it('names the tasks of the results left after a take: the host still holds them', () => {
    const b = new ResultBuffer();
    b.push(outcome(1), 3 * 1024 * 1024);
    b.push(outcome(2), 3 * 1024 * 1024);
    b.push(outcome(3), 1);
    expect(b.taskIds()).toEqual([1, 2, 3]);
    b.take();
    expect(b.taskIds()).toEqual([2, 3]);
    b.take();
    expect(b.taskIds()).toEqual([]);
  });

  it('puts back what was not acknowledged ahead of what came since', () => {
    const b = new ResultBuffer();
    b.push(outcome(1), 1);
    const taken = b.take();
    b.push(outcome(2), 1);
    b.putBack(taken);
    expect(b.take().results.map((r) => r.taskId)).toEqual([1, 2]);
  });
});
