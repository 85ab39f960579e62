import type { Database } from 'better-sqlite3';
import { NotLeaderError } from '../../core/errors.js';
import type { Fence, LeaderLease, ReplicaInfo } from '../leadership.js';
import { LEASE_COLUMNS, leaseFromRow, REPLICA_COLUMNS, REPLICA_FORGET_MS, replicaFromRow, type LeaseRow, type ReplicaRow } from '../lease-row.js';

/** The leader lease (store/leadership.ts) on SQLite: one row, read and written inside the caller's transaction. */

const SELECT_LEASE = `SELECT ${LEASE_COLUMNS} FROM leadership WHERE id = 1`;
/** Parameters: holder, url, term, since, renewed_at, expires_at. */
const UPSERT_LEASE = `INSERT INTO leadership (id, holder, url, term, since, renewed_at, expires_at) VALUES (1, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, url = excluded.url, term = excluded.term, since = excluded.since,
    renewed_at = excluded.renewed_at, expires_at = excluded.expires_at`;
/** Parameters: expires_at, renewed_at, holder, term. */
const RENEW_LEASE = `UPDATE leadership SET expires_at = ?, renewed_at = ? WHERE id = 1 AND holder = ? AND term = ?`;
/** Parameters: now, holder, term. */
const RESIGN = `UPDATE leadership SET expires_at = min(expires_at, ?) WHERE id = 1 AND holder = ? AND term = ?`;

/** Parameters: id, url, started_at (now: kept from the first call), last_seen_at (now). */
const SEE_REPLICA = `INSERT INTO replicas (id, url, started_at, last_seen_at) VALUES (?, ?, ?, ?)
  ON CONFLICT (id) DO UPDATE SET url = excluded.url, last_seen_at = excluded.last_seen_at`;
/** Parameters: seen before. */
const FORGET_REPLICAS = `DELETE FROM replicas WHERE last_seen_at < ?`;
/** Parameters: seen since. */
const SELECT_REPLICAS = `SELECT ${REPLICA_COLUMNS} FROM replicas WHERE last_seen_at >= ? ORDER BY started_at, id`;

export function prepareLeaderQueries(db: Database) {
  const seeReplicaStmt = db.prepare<[string, string | null, number, number]>(SEE_REPLICA);
  const forgetReplicas = db.prepare<[number]>(FORGET_REPLICAS);
  const selectReplicas = db.prepare<[number], ReplicaRow>(SELECT_REPLICAS);
  const selectLease = db.prepare<[], LeaseRow>(SELECT_LEASE);
  const upsertLease = db.prepare<[string, string | null, number, number, number, number]>(UPSERT_LEASE);
  const renewLease = db.prepare<[number, number, string, number]>(RENEW_LEASE);
  const resign = db.prepare<[number, string, number]>(RESIGN);

  function claimLeadership(holder: string, url: string | null, now: number, leaseMs: number, takeover = false): LeaderLease {
    const cur = selectLease.get();
    if (cur && cur.holder === holder && cur.expires_at > now) {
      renewLease.run(now + leaseMs, now, holder, cur.term);
      return { ...leaseFromRow(cur), url: cur.url, renewedAt: now, expiresAt: now + leaseMs };
    }
    if (cur && cur.expires_at > now && !takeover) return leaseFromRow(cur);
    const term = (cur?.term ?? 0) + 1;
    upsertLease.run(holder, url, term, now, now, now + leaseMs);
    return { holder, url, term, since: now, renewedAt: now, expiresAt: now + leaseMs };
  }

  function resignLeadership(holder: string, term: number, now: number): void {
    resign.run(now, holder, term);
  }

  function getLeadership(): LeaderLease | null {
    const r = selectLease.get();
    return r ? leaseFromRow(r) : null;
  }

  /** Throws NotLeaderError unless `fence` carries the current term; nothing when there is no fence. Call first in a leader-only write. */
  function checkFence(fence: Fence | undefined): void {
    if (fence === undefined) return;
    const cur = selectLease.get();
    if (cur?.term !== fence.term) throw new NotLeaderError(fence.term, cur?.term ?? null);
  }

  function seeReplica(id: string, url: string | null, now: number): void {
    seeReplicaStmt.run(id, url, now, now);
    forgetReplicas.run(now - REPLICA_FORGET_MS);
  }

  function listReplicas(since: number): ReplicaInfo[] {
    return selectReplicas.all(since).map(replicaFromRow);
  }

  return { claimLeadership, resignLeadership, getLeadership, checkFence, seeReplica, listReplicas };
}
