import type { Pool, PoolReplica } from './pool-spec.js';

/**
 * A pool as the API answers it (`GET /v1/pools`, `GET /v1/pools/:name`): its definition with what it is
 * doing now. Shared by the routes that build it and the SDK, CLI and dashboard that read it, so neither
 * side borrows the store's types (ADR 0016).
 */
export interface PoolView extends Pool {
  /** Live replicas, and those that ended in the last 10 minutes (with their end reason). */
  replicas: PoolReplica[];
  backlog: PoolBacklogView;
  /** Tasks finished per second over the last 60 s. */
  throughput: PoolThroughput;
  /** GPUs the pool's replicas hold now. */
  gpusHeld: number;
  /** The pool's latest cold start, or null when no task submitted to a pool without a ready replica has succeeded yet. */
  coldStart: PoolColdStart | null;
}

export interface PoolBacklogView {
  /** Queued tasks that may be delivered now (their retry backoff is over). */
  runnable: number;
  /** Queued tasks, runnable or waiting out a backoff. */
  queued: number;
  /** Tasks a replica holds. */
  running: number;
}

export interface PoolThroughput {
  succeededPerSecond: number;
  failedPerSecond: number;
}

/**
 * A cold start: a task submitted while the pool had no ready replica, measured from its acceptance to the
 * ready of the replica that answered it and to its result (epoch ms). The store's `ColdStart` has this shape.
 */
export interface PoolColdStart {
  taskId: number;
  replicaJobId: number;
  acceptedAt: number;
  /** Null when the replica's ready time is not known (its row was purged). */
  replicaReadyAt: number | null;
  resultAt: number;
}

/** Whether a replica is live (not ended). */
export function isLiveReplica(r: PoolReplica): boolean {
  return r.state !== 'ended';
}

/** Ready and live replicas now, and the pool's maximum: what the CLI and the dashboard show as "ready/live (max N)". */
export function replicaCounts(p: PoolView): { ready: number; live: number; max: number } {
  const live = p.replicas.filter(isLiveReplica);
  return { ready: live.filter((r) => r.state === 'ready').length, live: live.length, max: p.spec.maxReplicas };
}

/** Tasks per second, to a precision that reads at a glance. */
export function taskRate(perSecond: number): string {
  if (perSecond === 0) return '0';
  if (perSecond < 0.1) return perSecond.toFixed(3);
  if (perSecond < 10) return perSecond.toFixed(2);
  return perSecond.toFixed(1);
}
