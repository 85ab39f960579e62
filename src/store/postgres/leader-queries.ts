import { NotLeaderError } from '../../core/errors.js';
import type { Fence, LeaderLease, ReplicaInfo } from '../leadership.js';
import type { Sql } from './postgres-pool.js';
import { LEASE_COLUMNS, leaseFromRow, REPLICA_COLUMNS, REPLICA_FORGET_MS, replicaFromRow, type LeaseRow, type ReplicaRow } from '../lease-row.js';

/**
 * The leader lease (store/leadership.ts) on PostgreSQL: one row. A claim locks
 * it FOR UPDATE; a leader-only write locks it FOR SHARE to check its fence, so
 * a takeover waits for a fenced write in flight to commit (and the new leader
 * then reads what it wrote), and a fenced write waits for a takeover in flight
 * (and is then refused).
 */

const SELECT_FOR_UPDATE = `SELECT ${LEASE_COLUMNS} FROM leadership WHERE id = 1 FOR UPDATE`;
const SELECT_LEASE = `SELECT ${LEASE_COLUMNS} FROM leadership WHERE id = 1`;
const SELECT_TERM_FOR_SHARE = `SELECT term FROM leadership WHERE id = 1 FOR SHARE`;
/** $1 holder, $2 url, $3 term, $4 now, $5 expires_at. ON CONFLICT: two first claims at once; the second finds the row and changes nothing. */
const INSERT_FIRST = `INSERT INTO leadership (id, holder, url, term, since, renewed_at, expires_at) VALUES (1, $1, $2, $3, $4, $4, $5)
  ON CONFLICT (id) DO NOTHING`;
/** $1 holder, $2 url, $3 term, $4 now, $5 expires_at. */
const TAKE = `UPDATE leadership SET holder = $1, url = $2, term = $3, since = $4, renewed_at = $4, expires_at = $5 WHERE id = 1`;
/** $1 expires_at, $2 now, $3 term. */
const RENEW = `UPDATE leadership SET expires_at = $1, renewed_at = $2 WHERE id = 1 AND term = $3`;
/** $1 now, $2 holder, $3 term. */
const RESIGN = `UPDATE leadership SET expires_at = least(expires_at, $1) WHERE id = 1 AND holder = $2 AND term = $3`;

/** In a write transaction. */
export async function claimLeadership(sql: Sql, holder: string, url: string | null, now: number, leaseMs: number, takeover = false): Promise<LeaderLease> {
  const [cur] = await sql.query<LeaseRow>(SELECT_FOR_UPDATE);
  const expiresAt = now + leaseMs;
  if (!cur) {
    await sql.execute(INSERT_FIRST, [holder, url, 1, now, expiresAt]);
    const [row] = await sql.query<LeaseRow>(SELECT_LEASE);
    return leaseFromRow(row!);
  }
  if (cur.holder === holder && cur.expires_at > now) {
    await sql.execute(RENEW, [expiresAt, now, cur.term]);
    return { ...leaseFromRow(cur), renewedAt: now, expiresAt };
  }
  if (cur.expires_at > now && !takeover) return leaseFromRow(cur);
  const term = cur.term + 1;
  await sql.execute(TAKE, [holder, url, term, now, expiresAt]);
  return { holder, url, term, since: now, renewedAt: now, expiresAt };
}

export async function resignLeadership(sql: Sql, holder: string, term: number, now: number): Promise<void> {
  await sql.execute(RESIGN, [now, holder, term]);
}

export async function getLeadership(sql: Sql): Promise<LeaderLease | null> {
  const [r] = await sql.query<LeaseRow>(SELECT_LEASE);
  return r ? leaseFromRow(r) : null;
}

/** Throws NotLeaderError unless `fence` carries the current term. Call first in a leader-only write transaction. */
export async function checkFence(sql: Sql, fence: Fence): Promise<void> {
  const [r] = await sql.query<{ term: number }>(SELECT_TERM_FOR_SHARE);
  if (r?.term !== fence.term) throw new NotLeaderError(fence.term, r?.term ?? null);
}

/** Parameters: id, url, now (its start when new). */
const SEE_REPLICA = `INSERT INTO replicas (id, url, started_at, last_seen_at) VALUES ($1, $2, $3, $3)
  ON CONFLICT (id) DO UPDATE SET url = excluded.url, last_seen_at = excluded.last_seen_at`;
/** Parameters: seen before. */
const FORGET_REPLICAS = `DELETE FROM replicas WHERE last_seen_at < $1`;
/** Parameters: seen since. */
const SELECT_REPLICAS = `SELECT ${REPLICA_COLUMNS} FROM replicas WHERE last_seen_at >= $1 ORDER BY started_at, id`;

export async function seeReplica(sql: Sql, id: string, url: string | null, now: number): Promise<void> {
  await sql.execute(SEE_REPLICA, [id, url, now]);
  await sql.execute(FORGET_REPLICAS, [now - REPLICA_FORGET_MS]);
}

export async function listReplicas(sql: Sql, since: number): Promise<ReplicaInfo[]> {
  return (await sql.query<ReplicaRow>(SELECT_REPLICAS, [since])).map(replicaFromRow);
}
