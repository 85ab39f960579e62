import type { JobState, MaintenanceMode, NodeAdminState } from './types.js';

/**
 * The event feed (GET /v1/events): what happened in the cluster, in commit order. The store writes each event
 * in the transaction of the change it describes and gives it an id that grows in commit order, so a reader
 * resuming after the last id it saw misses nothing and sees nothing twice, on any replica. Events older than
 * the retention window are purged; a reader resuming before them gets a `resync` (see feedResume).
 */
export type FeedEvent = { id: number; at: number } & FeedEventBody;

export type FeedEventBody =
  /** A job changed state (one per recorded transition). `attempt`, `nodeId`, `devices`: the attempt it concerns, if any. */
  | {
      type: 'job.state';
      jobId: number;
      name: string;
      queue: string;
      labels: Record<string, string>;
      owner: string | null;
      attempt: number | null;
      nodeId: string | null;
      devices: number[];
      from: JobState | null;
      to: JobState;
      reason: string | null;
      inDlq: boolean;
    }
  /** A running attempt's GPUs were flagged idle (all under the idle utilization for the idle time), or the flag cleared. */
  | { type: 'job.idle'; jobId: number; attemptId: number; queue: string; nodeId: string; devices: number[]; idle: boolean }
  /** A node registered (or its agent restarted), went down, or came back up. */
  | { type: 'node.state'; nodeId: string; hostname: string; state: 'up' | 'down' }
  /** The operator cordoned, drained or uncordoned a node. */
  | { type: 'node.admin'; nodeId: string; adminState: NodeAdminState }
  /** A device's health changed (as its agent's registration reports it; a new device only when unhealthy). */
  | { type: 'device.health'; nodeId: string; index: number; uuid: string; healthy: boolean }
  /** The maintenance mode was set. */
  | { type: 'maintenance'; mode: MaintenanceMode }
  /** A new leadership term began. */
  | { type: 'leader'; holder: string; term: number; url: string | null }
  /** A warm worker pool was created (core/pool-spec.ts), at generation 1. */
  | { type: 'pool.created'; pool: string; generation: number }
  /** A pool's spec was changed: its replicas of older generations are replaced. */
  | { type: 'pool.updated'; pool: string; generation: number }
  /** A pool was stopped (it takes no tasks, its replicas finish and exit) or started again. */
  | { type: 'pool.stopped'; pool: string }
  | { type: 'pool.started'; pool: string }
  | { type: 'pool.deleted'; pool: string }
  /** A replica's worker said it is ready (once per attempt of the replica job `jobId`, in queue `pool.<name>`). */
  | { type: 'pool.replica.ready'; pool: string; jobId: number; queue: string; attemptId: number; generation: number }
  /**
   * A pipeline run ended (ADR 0018): its outcome, the files it published (null unless it succeeded), the on-failure
   * job it started, and the broker source whose message started it (null for runs started otherwise).
   */
  | {
      type: 'pipeline.run.ended';
      run: number;
      pipeline: string;
      state: 'succeeded' | 'failed' | 'cancelled';
      reason: string | null;
      source: string | null;
      outputs: { from: string; name: string }[] | null;
      onFailureJobId: number | null;
    };

export type FeedEventType = FeedEventBody['type'];

export const FEED_EVENT_TYPES: readonly FeedEventType[] = [
  'job.state',
  'job.idle',
  'node.state',
  'node.admin',
  'device.health',
  'maintenance',
  'leader',
  'pool.created',
  'pool.updated',
  'pool.stopped',
  'pool.started',
  'pool.deleted',
  'pool.replica.ready',
  'pipeline.run.ended',
];


/** Which events a reader wants: each condition given must hold (the store applies it when it reads). */
export interface FeedFilter {
  /** Exact types. */
  types?: FeedEventType[];
  jobId?: number;
  queue?: string;
}

/**
 * Expands a `types` filter: each entry an exact type or the part before its dot (`job` is job.state and job.idle).
 * Returns the first entry that names no type, if any.
 */
export function expandFeedTypes(entries: string[]): { types: FeedEventType[] } | { unknown: string } {
  const types = new Set<FeedEventType>();
  for (const entry of entries) {
    const matching = FEED_EVENT_TYPES.filter((t) => t === entry || t.split('.')[0] === entry);
    if (matching.length === 0) return { unknown: entry };
    for (const t of matching) types.add(t);
  }
  return { types: FEED_EVENT_TYPES.filter((t) => types.has(t)) };
}

/**
 * Where a reader resuming after `after` starts: at the next event, or — when retention removed events it had not
 * seen (`after` below `purgedThrough`) — at the oldest retained one, after a resync telling it so.
 */
export function feedResume(after: number, purgedThrough: number): { after: number; resync: false } | { after: number; resync: true; reason: string } {
  if (after >= purgedThrough) return { after, resync: false };
  return {
    after: purgedThrough,
    resync: true,
    reason: `events ${after + 1}…${purgedThrough} were removed by retention: read the current state again (jobs, nodes), then follow from here`,
  };
}
