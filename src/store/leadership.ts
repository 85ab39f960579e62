/**
 * The leader lease of the control plane, kept in the store (ADR 0006).
 *
 * Any number of gpuq servers may share one PostgreSQL database; one of them,
 * the leader, runs the scheduler, the lease reclaimer and retention. It holds
 * a lease in the store and renews it every few seconds; when it stops renewing,
 * another server takes the lease once it has run out. Each change of holder
 * (and each retake after a lapse) starts a new `term`.
 *
 * Fencing: every write the leader makes as leader carries a Fence with its
 * term, and the store checks it in the same transaction as the write, refusing
 * it with NOT_LEADER unless the term is the current one. A leader that was
 * paused past its lease (GC, SIGSTOP, a network partition) and wakes up
 * therefore changes nothing, whatever it still believes; clocks only decide
 * how soon a takeover happens, never whether two leaders can both write.
 */

export interface LeaderLease {
  /** The replica holding (or last holding) the lease. */
  holder: string;
  /** Where that replica serves the API, when it said. */
  url: string | null;
  term: number;
  /** When this term began. */
  since: number;
  renewedAt: number;
  /** The lease is held until then; after it, anyone may take it (a new term). */
  expiresAt: number;
}

/** A control-plane server sharing the store, as it last recorded itself. */
export interface ReplicaInfo {
  id: string;
  url: string | null;
  startedAt: number;
  lastSeenAt: number;
}

/** A leader's proof of leadership, carried by its writes as leader. */
export interface Fence {
  term: number;
}

export interface LeadershipStore {
  /**
   * One step of the election, atomic: `holder` renews its lease (same term) if
   * it holds it and it has not run out; takes it with a new term if nobody
   * holds it, its lease ran out, or `takeover` is set; otherwise changes
   * nothing. Returns the lease as it stands afterwards: `holder` leads for
   * that term iff `lease.holder === holder`.
   * `takeover` is for a store only one server uses (SQLite): a restarted
   * server need not wait out the lease of the process it replaces.
   */
  claimLeadership(holder: string, url: string | null, now: number, leaseMs: number, takeover?: boolean): Promise<LeaderLease>;
  /** Ends `holder`'s lease of `term` now (clean shutdown), so another server takes over at once. No-op if it no longer holds it. */
  resignLeadership(holder: string, term: number, now: number): Promise<void>;
  /** The lease as stored (it may have run out), or null when no server ever led. */
  getLeadership(): Promise<LeaderLease | null>;
  /**
   * Records that control-plane server `id` (reachable at `url`) is alive at `now`; the first call records its
   * start. Removes the servers not seen for an hour.
   */
  seeReplica(id: string, url: string | null, now: number): Promise<void>;
  /** The servers seen at or after `since`, oldest start first. */
  listReplicas(since: number): Promise<ReplicaInfo[]>;
}
