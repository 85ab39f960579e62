/**
 * How a risk run is split over the cluster (a decision, no I/O): by default one shard per GPU (or per
 * `gpusPerShard` GPUs), or one CPU shard per node when the cluster has no GPU; and how many worker
 * threads a CPU-engine shard starts so the shards sharing a node do not oversubscribe its cores.
 */
import { LIMITS } from '../../core/job-spec.js';

export interface NodeCapacity {
  id: string;
  cpus: number;
  /** Healthy GPUs. */
  gpus: number;
}

export interface ShardLayout {
  shards: number;
  gpusPerShard: number;
  cpuWorkers: number;
  /** In words, for the user: "4 shards, one per GPU on 1 node". */
  why: string;
}

export class ShardLayoutError extends Error {}

/** The reduce job depends on every shard job, and a job may depend on at most this many. */
const MAX_SHARDS = LIMITS.maxDependencies;

export function shardLayout(nodes: readonly NodeCapacity[], o: { shards: 'auto' | number; gpusPerShard?: number; blocks: number }): ShardLayout {
  if (nodes.length === 0) throw new ShardLayoutError('no node is up and schedulable to run the shards (gpuq nodes)');
  const totalGpus = nodes.reduce((s, n) => s + n.gpus, 0);
  const g = o.gpusPerShard ?? (totalGpus > 0 ? 1 : 0);
  const hosts = g > 0 ? nodes.filter((n) => n.gpus >= g) : [...nodes];
  if (hosts.length === 0) throw new ShardLayoutError(`--gpus-per-shard ${g}: no schedulable node has ${g} GPUs (the most is ${Math.max(...nodes.map((n) => n.gpus))})`);
  const slots = g > 0 ? hosts.reduce((s, n) => s + Math.floor(n.gpus / g), 0) : hosts.length;
  const asked = o.shards === 'auto' ? slots : o.shards;
  if (o.shards !== 'auto' && o.shards > MAX_SHARDS) throw new ShardLayoutError(`--shards ${o.shards}: at most ${MAX_SHARDS} (the reduce job depends on every shard job)`);
  const shards = Math.max(1, Math.min(asked, o.blocks, MAX_SHARDS));
  // Shards that run at once on one node: its GPU slots, or an even share of the shards over the nodes.
  const perNode = (n: NodeCapacity) => Math.max(1, Math.min(g > 0 ? Math.floor(n.gpus / g) : Infinity, Math.ceil(shards / hosts.length)));
  const cpuWorkers = Math.max(1, Math.min(...hosts.map((n) => Math.floor(n.cpus / perNode(n)))));
  const unit = g > 0 ? `${g === 1 ? 'one GPU' : `${g} GPUs`} each` : 'CPU only (no GPU in the cluster)';
  const capped = shards < asked ? ` (capped at ${shards === o.blocks ? `the run's ${o.blocks} blocks of paths` : `${MAX_SHARDS}, the most one reduce job can depend on`})` : '';
  return { shards, gpusPerShard: g, cpuWorkers, why: `${shards} shard${shards === 1 ? '' : 's'}, ${unit}, over ${hosts.length} node${hosts.length === 1 ? '' : 's'}${capped}` };
}
