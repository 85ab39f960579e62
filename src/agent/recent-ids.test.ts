import { describe, expect, it } from 'vitest';
import { RecentIds } from './recent-ids.js';

describe('RecentIds', () => {
  it('remembers the last ids added, forgetting the oldest first', () => {
    const ids = new RecentIds(3);
    for (const id of [1, 2, 3]) ids.add(id);
    ids.add(1); // moves 1 to the newest end
    ids.add(4); // pushes out 2, now the oldest
    expect([1, 2, 3, 4].map((id) => ids.has(id))).toEqual([true, false, true, true]);
    expect(ids.size).toBe(3);
  });
});
