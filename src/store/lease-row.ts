import type { LeaderLease } from './leadership.js';

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
