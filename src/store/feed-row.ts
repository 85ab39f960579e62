import type { FeedEvent } from '../core/feed-events.js';
import type { JobState } from '../core/types.js';

/**
 * A row of `events` with what the read joins in (feed-queries.ts): the job's name, queue, labels and owner, and the
 * node and devices of the attempt a job.state event concerns. JSON columns are text on SQLite and parsed on
 * PostgreSQL. A job purged by retention before its events (only when jobs are kept less than events) has
 * nothing to join: its events keep their id, time and transition, with an empty name and queue.
 */
export interface FeedRow {
  id: number;
  at: number;
  type: string;
  job_id: number | null;
  attempt: number | null;
  from_state: string | null;
  to_state: string | null;
  reason: string | null;
  data: string | Record<string, unknown> | null;
  name: string | null;
  queue: string | null;
  labels: string | Record<string, string> | null;
  owner: string | null;
  node_id: string | null;
  devices: string | number[] | null;
}

/** The columns of a feed read, with `e` the events, `j` the job and `a` the attempt joined to it. */
export const FEED_SELECT = `SELECT e.id, e.at, e.type, e.job_id, e.attempt, e.from_state, e.to_state, e.reason, e.data,
  j.name, j.queue, j.labels, j.owner, a.node_id, a.devices
  FROM events e LEFT JOIN jobs j ON j.id = e.job_id LEFT JOIN attempts a ON a.job_id = e.job_id AND a.number = e.attempt`;

const json = <T>(v: string | T | null, empty: T): T => (v === null ? empty : typeof v === 'string' ? (JSON.parse(v) as T) : v);

export function feedEventFromRow(row: FeedRow): FeedEvent {
  if (row.type === 'job.state') {
    return {
      id: row.id,
      at: row.at,
      type: 'job.state',
      jobId: row.job_id!,
      name: row.name ?? '',
      queue: row.queue ?? '',
      labels: json(row.labels, {}),
      owner: row.owner,
      attempt: row.attempt,
      nodeId: row.node_id,
      devices: json(row.devices, []),
      from: row.from_state as JobState | null,
      to: row.to_state as JobState,
      reason: row.reason,
      // Every job that fails enters the DLQ; a purge from the DLQ later is no transition.
      inDlq: row.to_state === 'failed',
    };
  }
  const data = json<Record<string, unknown>>(row.data, {});
  const job = row.job_id === null ? {} : { jobId: row.job_id, queue: row.queue ?? '' };
  return { ...data, ...job, id: row.id, at: row.at, type: row.type } as FeedEvent;
}

/** How many matching events at most one read returns, whatever is asked. */
export const MAX_FEED_READ = 1000;
