import { describe, expect, it } from 'vitest';
import { MAX_NOTIFY_BYTES, notifyPayloads } from './notifications.js';

describe('notifyPayloads', () => {
  it('sends a small event whole, with the tasks that ended', () => {
    expect(notifyPayloads({ type: 'pool-results', pools: ['p'], tasks: [1, 2] })).toEqual(['{"type":"pool-results","pools":["p"],"tasks":[1,2]}']);
  });

  it('drops the ended tasks of a results event too big for one notification, and slices many pools', () => {
    const tasks = Array.from({ length: 2000 }, (_, i) => 1_000_000 + i);
    expect(notifyPayloads({ type: 'pool-results', pools: ['p'], tasks })).toEqual(['{"type":"pool-results","pools":["p"]}']);
    const pools = Array.from({ length: 200 }, (_, i) => `pool-${'x'.repeat(50)}-${i}`);
    const payloads = notifyPayloads({ type: 'pool-tasks', pools });
    expect(payloads.length).toBeGreaterThan(1);
    expect(payloads.every((p) => Buffer.byteLength(p) <= MAX_NOTIFY_BYTES)).toBe(true);
    expect(payloads.flatMap((p) => (JSON.parse(p) as { pools: string[] }).pools)).toEqual(pools);
  });
});
