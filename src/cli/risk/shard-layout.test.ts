import { describe, expect, it } from 'vitest';
import { shardLayout } from './shard-layout.js';

const node = (id: string, cpus: number, gpus: number) => ({ id, cpus, gpus });

describe('shardLayout', () => {
  it('auto: one shard per GPU; CPU workers share the node\'s cores among the shards it runs at once', () => {
    expect(shardLayout([node('a', 16, 8), node('b', 16, 4)], { shards: 'auto', blocks: 1000 })).toMatchObject({ shards: 12, gpusPerShard: 1, cpuWorkers: 2 });
    expect(shardLayout([node('a', 16, 8)], { shards: 'auto', gpusPerShard: 2, blocks: 1000 })).toMatchObject({ shards: 4, gpusPerShard: 2, cpuWorkers: 4 });
  });

  it('no GPU anywhere: one CPU shard per node, using all its cores', () => {
    const l = shardLayout([node('a', 2, 0), node('b', 4, 0)], { shards: 'auto', blocks: 1000 });
    expect(l).toMatchObject({ shards: 2, gpusPerShard: 0, cpuWorkers: 2 });
    expect(l.why).toMatch(/CPU only/);
  });

  it('an explicit count, capped at the run\'s blocks', () => {
    expect(shardLayout([node('a', 2, 0)], { shards: 4, blocks: 1000 })).toMatchObject({ shards: 4, cpuWorkers: 1 });
    const capped = shardLayout([node('a', 2, 4)], { shards: 'auto', blocks: 3 });
    expect(capped).toMatchObject({ shards: 3, gpusPerShard: 1 });
    expect(capped.why).toMatch(/capped at the run's 3 blocks/);
  });

  it('at most 1000 shards, the most one reduce job can depend on', () => {
    expect(shardLayout([node('a', 64, 1200)], { shards: 'auto', blocks: 100_000 })).toMatchObject({ shards: 1000, why: expect.stringMatching(/capped at 1000, the most one reduce job can depend on/) });
    expect(() => shardLayout([node('a', 64, 8)], { shards: 1001, blocks: 100_000 })).toThrow(/--shards 1001: at most 1000/);
  });

  it('refuses a cluster with no node, or no node with enough GPUs', () => {
    expect(() => shardLayout([], { shards: 'auto', blocks: 10 })).toThrow(/no node is up and schedulable/);
    expect(() => shardLayout([node('a', 8, 2)], { shards: 'auto', gpusPerShard: 4, blocks: 10 })).toThrow(/no schedulable node has 4 GPUs \(the most is 2\)/);
  });
});
