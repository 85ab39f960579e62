import type { LeaderLease, ReplicaInfo } from './leadership.js';

/** The leader lease as both stores keep it (table `leadership`, one row). */
export const LEASE_COLUMNS = 'holder, url, term, since, renewed_at, expires_at';

export interface LeaseRow {
  holder: string;
  url: string | null;
  term: number;
  since: number;
  renewed_at: number;
  expires_at: number;
}

export function leaseFromRow(r: LeaseRow): LeaderLease {
  return { holder: r.holder, url: r.url, term: r.term, since: r.since, renewedAt: r.renewed_at, expiresAt: r.expires_at };
}

/** How long a server not seen is kept in `replicas`. */
export const REPLICA_FORGET_MS = 3_600_000;

export const REPLICA_COLUMNS = 'id, url, started_at, last_seen_at';

export interface ReplicaRow {
  id: string;
  url: string | null;
  started_at: number;
  last_seen_at: number;
}

export function replicaFromRow(r: ReplicaRow): ReplicaInfo {
  return { id: r.id, url: r.url, startedAt: r.started_at, lastSeenAt: r.last_seen_at };
}
