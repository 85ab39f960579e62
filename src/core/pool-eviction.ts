import type { Pool, PoolReplica } from './pool-spec.js';
import type { HostMemory } from './types.js';

/**
 * Eviction of pool replicas under host memory pressure (ADR 0016), pure: given the nodes' last host memory
 * readings, every pool and its live replicas, which replicas to evict now.
 *
 * A node is under pressure when it is up and its available memory is below `thresholdPct` of its total (0: never).
 * On each such node one replica is evicted at a time, in the pools' eviction order:
 *   1. the lowest memoryPolicy.evictionPriority first;
 *   2. then the largest pool: most GPUs held by its live replicas (over all nodes), then most host memory
 *      reserved by them (memoryMb × replicas);
 *   3. then by pool name, and the pool's newest replica on that node first (it has done the least work).
 * After an eviction the node is left alone until the evicted replica's processes have ended and the node
 * has reported its memory since (`settling`): one reading below the threshold is not a licence to evict
 * every replica of the node before the first eviction has freed anything.
 */

export interface NodeMemoryReading {
  id: string;
  state: 'up' | 'down';
  hostMemory: HostMemory | null;
}

export interface PressureEvictionInput {
  nodes: readonly NodeMemoryReading[];
  pools: readonly Pool[];
  /** Replicas of every pool (ended ones are ignored). */
  replicas: readonly PoolReplica[];
  /** A node is under pressure when its available memory is below this percent of its total; 0: never. */
  thresholdPct: number;
  /**
   * Nodes where an eviction is under way: null while the evicted replica's processes still run, else when
   * they ended. Such a node is considered again once its reading was taken after that end.
   */
  settling: ReadonlyMap<string, number | null>;
}

export interface PressureEviction {
  jobId: number;
  pool: string;
  nodeId: string;
  detail: string;
}

/** Whether a reading says the node is under pressure. */
export function underPressure(memory: HostMemory, thresholdPct: number): boolean {
  return thresholdPct > 0 && memory.totalMb > 0 && memory.availableMb < (memory.totalMb * thresholdPct) / 100;
}

/** Whether the node has settled after its last eviction: the evicted processes ended and it has reported since. */
export function settled(memory: HostMemory, evictionEndedAt: number | null | undefined): boolean {
  if (evictionEndedAt === undefined) return true;
  return evictionEndedAt !== null && memory.sampledAt > evictionEndedAt;
}

export function planPressureEvictions(input: PressureEvictionInput): PressureEviction[] {
  if (input.thresholdPct <= 0) return [];
  const live = input.replicas.filter((r) => r.state !== 'ended');
  const poolsByName = new Map(input.pools.map((p) => [p.name, p]));
  const size = new Map<string, { gpus: number; memoryMb: number }>();
  for (const r of live) {
    const pool = poolsByName.get(r.pool);
    if (!pool) continue;
    const s = size.get(r.pool) ?? { gpus: 0, memoryMb: 0 };
    s.gpus += r.devices.length;
    if (r.nodeId !== null) s.memoryMb += pool.spec.memoryMb;
    size.set(r.pool, s);
  }
  const order = (a: PoolReplica, b: PoolReplica): number => {
    const pa = poolsByName.get(a.pool)!;
    const pb = poolsByName.get(b.pool)!;
    const sa = size.get(a.pool)!;
    const sb = size.get(b.pool)!;
    return (
      pa.spec.memoryPolicy.evictionPriority - pb.spec.memoryPolicy.evictionPriority ||
      sb.gpus - sa.gpus ||
      sb.memoryMb - sa.memoryMb ||
      (a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0) ||
      b.createdAt - a.createdAt ||
      b.jobId - a.jobId
    );
  };

  const out: PressureEviction[] = [];
  for (const node of input.nodes) {
    const m = node.hostMemory;
    if (node.state !== 'up' || m === null || !underPressure(m, input.thresholdPct) || !settled(m, input.settling.get(node.id))) continue;
    const candidates = live.filter((r) => r.nodeId === node.id && r.state !== 'pending' && poolsByName.has(r.pool));
    if (candidates.length === 0) continue;
    const victim = candidates.sort(order)[0]!;
    out.push({
      jobId: victim.jobId,
      pool: victim.pool,
      nodeId: node.id,
      detail: `host memory pressure on node ${node.id}: ${m.availableMb} MiB of ${m.totalMb} MiB available, under ${input.thresholdPct} %`,
    });
  }
  return out;
}
