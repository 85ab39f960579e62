import { describe, expect, it } from 'vitest';
import type { Job } from '../../core/types.js';
import { progressLine } from './submit-run.js';

const job = (state: Job['state'], attempts = 1) => ({ state, attempts }) as Job;

describe('progressLine', () => {
  it('counts shards by state, retries and failures, and shows the reduce and the time', () => {
    const shards = [job('succeeded'), job('succeeded', 2), job('running'), job('queued')];
    expect(progressLine(shards, job('queued', 0), 12_345)).toBe('[############............] 50% of paths, 2/4 shards done, 1 running, 1 waiting, 1 retried; reduce queued (12.3 s)');
    expect(progressLine([job('succeeded'), job('failed', 3)], job('failed', 0), 1000)).toBe('[############............] 50% of paths, 1/2 shards done, 0 running, 2 retried, 1 failed; reduce failed (1.0 s)');
  });

  it('follows the paths the shards report done, when they say more than the shards done', () => {
    const shards = [job('running'), job('running')];
    expect(progressLine(shards, job('queued', 0), 2000, 0.375)).toBe('[#########...............] 38% of paths, 0/2 shards done, 2 running; reduce queued (2.0 s)');
  });
});
