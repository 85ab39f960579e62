import type { PoolReplica } from '../../../src/core/pool-spec.js';
import { isLiveReplica, type PoolColdStart, type PoolView } from '../../../src/core/pool-view.js';
import { duration } from '../format.js';

/** How the pool pages read a pool's figures (the CLI's `gpuq pool ls/show` say the same in text). */

/** A cold start's whole length: from the task's acceptance to its result. */
export function coldStartTotal(c: PoolColdStart | null): string {
  return c === null ? '—' : duration(c.resultAt - c.acceptedAt);
}

/** A cold start's two legs: accepted → the replica said ready, accepted → the result (null when the ready time is gone). */
export function coldStartLegs(c: PoolColdStart): { ready: number | null; result: number } {
  return { ready: c.replicaReadyAt === null ? null : c.replicaReadyAt - c.acceptedAt, result: c.resultAt - c.acceptedAt };
}

/** How long a replica has run: to now while live, to its end once ended; while pending, how long it has waited. */
export function uptime(r: PoolReplica, now: number): string {
  if (r.startedAt === null) return r.endedAt === null ? `pending ${duration(now - r.createdAt)}` : '—';
  return duration((r.endedAt ?? now) - r.startedAt);
}

/**
 * Whether nothing in these pools can move without an event saying so: no live replica, nothing queued or
 * running, and no throughput left to decay out of the last minute. A task sent to such a pool starts a
 * replica (a job event), so the pages stop reading on a timer until then.
 */
export function isQuiet(pools: PoolView[]): boolean {
  return pools.every((p) => p.replicas.every((r) => !isLiveReplica(r)) && p.backlog.queued === 0 && p.backlog.running === 0 && p.throughput.succeededPerSecond === 0 && p.throughput.failedPerSecond === 0);
}

/** Seconds as the definition gives them ("300 s", "1.5 s"). */
export function seconds(s: number): string {
  return `${s} s`;
}
