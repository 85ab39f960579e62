import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planPressureEvictions, settled, underPressure, type NodeMemoryReading, type PressureEvictionInput } from './pool-eviction.js';
import { poolOf, replicaOf } from './pool-scaling.fixtures.js';
import type { Pool, PoolReplica } from './pool-spec.js';

const AT = 1_000_000;
/** A node with 100 GiB, `availableMb` of it available, reported at AT. */
const node = (id: string, availableMb: number, extra: Partial<NodeMemoryReading> = {}): NodeMemoryReading => ({ id, state: 'up', hostMemory: { totalMb: 102_400, availableMb, sampledAt: AT }, ...extra });

function evict(nodes: NodeMemoryReading[], pools: Pool[], replicas: PoolReplica[], extra: Partial<PressureEvictionInput> = {}) {
  return planPressureEvictions({ nodes, pools, replicas, thresholdPct: 10, settling: new Map(), ...extra });
}

describe('memory pressure', () => {
  it('is available memory under the threshold percent of the total; 0 turns it off', () => {
    const m = { totalMb: 1000, availableMb: 99, sampledAt: AT };
    expect(underPressure(m, 10)).toBe(true);
    expect(underPressure({ ...m, availableMb: 100 }, 10)).toBe(false);
    expect(underPressure({ ...m, availableMb: 0 }, 0)).toBe(false);
  });

  it('a node settles once the evicted replica ended and the node reported after that', () => {
    const m = { totalMb: 1000, availableMb: 10, sampledAt: AT };
    expect(settled(m, undefined)).toBe(true);
    expect(settled(m, null)).toBe(false);
    expect(settled(m, AT)).toBe(false);
    expect(settled(m, AT - 1)).toBe(true);
  });
});

describe('planPressureEvictions', () => {
  const big = poolOf({ name: 'big', gpus: 2, maxReplicas: 4 });
  const small = poolOf({ name: 'small', gpus: 1 });
  const precious = poolOf({ name: 'precious', gpus: 4, memoryPolicy: { evictionPriority: 5 } });

  it('evicts nothing from a node with memory to spare, one that is down, or one that never reported', () => {
    const replicas = [replicaOf(big, 'ready', { nodeId: 'a' }), replicaOf(big, 'ready', { nodeId: 'b' }), replicaOf(big, 'ready', { nodeId: 'c' })];
    expect(evict([node('a', 50_000), node('b', 1000, { state: 'down' }), node('c', 0, { hostMemory: null })], [big], replicas)).toEqual([]);
  });

  it('evicts one replica per pressured node: the lowest priority, then the pool with most GPUs, most memory, then by name', () => {
    const replicas = [
      replicaOf(precious, 'ready', { nodeId: 'a' }),
      replicaOf(small, 'ready', { nodeId: 'a' }),
      replicaOf(big, 'ready', { nodeId: 'a' }),
      replicaOf(small, 'ready', { nodeId: 'b' }),
    ];
    const out = evict([node('a', 1000), node('b', 1000)], [big, small, precious], replicas);
    expect(out.map((e) => [e.nodeId, e.pool])).toEqual([['a', 'big'], ['b', 'small']]);
    expect(out[0]!.detail).toBe('host memory pressure on node a: 1000 MiB of 102400 MiB available, under 10 %');

    // The priority goes first, whatever the size: precious (priority 5, 4 GPUs) goes last.
    expect(evict([node('a', 1000)], [big, small, precious], replicas.filter((r) => r.pool !== 'big'))[0]!.pool).toBe('small');
    // Equal GPUs: the pool reserving more host memory, then the name.
    const fat = poolOf({ name: 'zz-fat', gpus: 1, memoryMb: 4096 });
    const twin = poolOf({ name: 'aa-twin', gpus: 1 });
    const even = [replicaOf(twin, 'ready', { nodeId: 'a' }), replicaOf(fat, 'ready', { nodeId: 'a' })];
    expect(evict([node('a', 1000)], [twin, fat], even)[0]!.pool).toBe('zz-fat');
    expect(evict([node('a', 1000)], [twin, small], [replicaOf(twin, 'ready', { nodeId: 'a' }), replicaOf(small, 'ready', { nodeId: 'a' })])[0]!.pool).toBe('aa-twin');
  });

  it('counts a pool\'s size over all its live replicas, and takes its newest replica on the node', () => {
    // small has 3 replicas (3 GPUs over two nodes), big 1 (2 GPUs): small is larger.
    const old = replicaOf(small, 'ready', { nodeId: 'a', createdAt: 1 });
    const young = replicaOf(small, 'starting', { nodeId: 'a', createdAt: 2 });
    const replicas = [replicaOf(big, 'ready', { nodeId: 'a' }), old, young, replicaOf(small, 'ready', { nodeId: 'b' }), replicaOf(big, 'ended', { nodeId: 'b' })];
    expect(evict([node('a', 1000)], [big, small], replicas)).toMatchObject([{ jobId: young.jobId, pool: 'small' }]);
  });

  it('leaves a node alone while an eviction there settles, and never evicts pending or ended replicas', () => {
    const replicas = [replicaOf(big, 'ready', { nodeId: 'a' }), replicaOf(big, 'ended', { nodeId: 'b' }), replicaOf(big, 'pending')];
    const nodes = [node('a', 1000), node('b', 1000)];
    expect(evict(nodes, [big], replicas, { settling: new Map([['a', null]]) })).toEqual([]);
    expect(evict(nodes, [big], replicas, { settling: new Map([['a', AT]]) })).toEqual([]);
    expect(evict(nodes, [big], replicas, { settling: new Map([['a', AT - 1]]) })).toHaveLength(1);
    expect(evict(nodes, [big], replicas, { thresholdPct: 0 })).toEqual([]);
  });

  it('properties: at most one eviction per node, only from pressured, settled nodes, of a live placed replica on that node, never before a lower priority', () => {
    const pools = [big, small, precious];
    const arb = fc.record({
      nodes: fc.uniqueArray(fc.record({ id: fc.constantFrom('a', 'b', 'c'), available: fc.integer({ min: 0, max: 102_400 }), up: fc.boolean() }), { selector: (n) => n.id }),
      replicas: fc.array(fc.record({ pool: fc.constantFrom(0, 1, 2), state: fc.constantFrom('pending', 'starting', 'ready', 'stopping', 'ended' as const), node: fc.constantFrom('a', 'b', 'c') }), { maxLength: 12 }),
      threshold: fc.integer({ min: 0, max: 100 }),
      settlingA: fc.option(fc.integer({ min: AT - 5, max: AT + 5 }), { nil: null }),
    });
    fc.assert(
      fc.property(arb, (x) => {
        const nodes = x.nodes.map((n) => node(n.id, n.available, { state: n.up ? 'up' : 'down' }));
        const replicas = x.replicas.map((r) => replicaOf(pools[r.pool]!, r.state, r.state === 'pending' ? {} : { nodeId: r.node }));
        const settling = new Map([['a', x.settlingA]]);
        const out = evict(nodes, pools, replicas, { thresholdPct: x.threshold, settling });
        expect(new Set(out.map((e) => e.nodeId)).size).toBe(out.length);
        for (const e of out) {
          const n = nodes.find((m) => m.id === e.nodeId)!;
          expect(n.state).toBe('up');
          expect(underPressure(n.hostMemory!, x.threshold)).toBe(true);
          expect(settled(n.hostMemory!, settling.get(n.id))).toBe(true);
          const victim = replicas.find((r) => r.jobId === e.jobId)!;
          expect(victim.nodeId).toBe(e.nodeId);
          expect(['starting', 'ready', 'stopping']).toContain(victim.state);
          const priority = (r: PoolReplica) => pools.find((p) => p.name === r.pool)!.spec.memoryPolicy.evictionPriority;
          for (const other of replicas) if (other.nodeId === e.nodeId && ['starting', 'ready', 'stopping'].includes(other.state)) expect(priority(victim)).toBeLessThanOrEqual(priority(other));
        }
      }),
    );
  });
});
