import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Fence, LeaderLease, LeadershipStore } from '../store/leadership.js';
import type { Metrics } from './metrics.js';

export interface LeaderElectionOptions {
  /** This server's name in the lease; unique per process. */
  replicaId: string;
  /** Where this server serves the API, shown to operators (GET /v1/status/leader). */
  url: string | null;
  /** How long a lease lasts without renewal. A dead leader is replaced within about leaseMs + renewMs. */
  leaseMs: number;
  /** How often the leader renews and the others try to claim. */
  renewMs: number;
  /** Take the lease at start even if another holds it: only for a store one server uses (SQLite), whose last holder is this server's dead predecessor. */
  takeoverAtStart: boolean;
}

export interface LeaderDuties {
  /** Starts the leader's work for `fence.term`; the fence goes with every leader-only write. */
  elected(fence: Fence): Promise<void> | void;
  /** Stops it; resolves when no leader-only write of the ended term is in flight any more from this server. */
  deposed(reason: string): Promise<void> | void;
}

/**
 * One server's side of leader election over the store's leader lease
 * (store/leadership.ts). Every `renewMs` it claims the lease: the leader
 * renews it, the others take it once it ran out. Gaining leadership starts the
 * duties (scheduler, reclaimer, retention) with the new term; losing it, or
 * failing to renew before the lease could have run out, stops them. Stepping
 * down on a doubt is safe and stepping down late is safe too: the store fences
 * every leader-only write by term, so a server that still believes it leads
 * after another took over can change nothing.
 */
export class LeaderElection {
  private timer: NodeJS.Timeout | null = null;
  private fence: Fence | null = null;
  /** When the current lease was last renewed, by this server's clock. */
  private renewedAt = 0;
  private lastSeen: LeaderLease | null = null;
  private ticking: Promise<void> = Promise.resolve();
  private first = true;
  private stopped = false;

  constructor(
    private readonly store: LeadershipStore,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly duties: LeaderDuties,
    private readonly options: LeaderElectionOptions,
  ) {}

  /** This server's fence while it leads, else null. */
  get currentFence(): Fence | null {
    return this.fence;
  }

  get replicaId(): string {
    return this.options.replicaId;
  }

  /** Runs the first claim (so a lone server leads before it serves), then claims every renewMs. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.renewMs);
    this.timer.unref();
  }

  /** Stops claiming; a leader stops its duties and resigns, so another server takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    const fence = this.fence;
    if (fence === null) return;
    await this.stepDown('this server is shutting down', 'info');
    try {
      await this.store.resignLeadership(this.options.replicaId, fence.term, this.clock.now());
    } catch (err) {
      this.log.warn({ err, term: fence.term }, 'could not resign leadership; another server takes over when the lease runs out');
    }
  }

  /** Called when the store refused a leader-only write of this server's term (NOT_LEADER): another server leads. */
  async lost(term: number): Promise<void> {
    if (this.fence?.term === term) await this.stepDown(`the store refused a write of term ${term}: another server leads`);
  }

  /** One election step (the timer runs it every renewMs); steps never overlap. */
  tick(): Promise<void> {
    this.ticking = this.ticking.then(() => this.claim());
    return this.ticking;
  }

  private async claim(): Promise<void> {
    if (this.stopped) return;
    const now = this.clock.now();
    let lease: LeaderLease;
    try {
      lease = await this.store.claimLeadership(this.options.replicaId, this.options.url, now, this.options.leaseMs, this.first && this.options.takeoverAtStart);
      this.first = false;
    } catch (err) {
      // Leave if the lease would run out before the next try could renew it.
      if (this.fence !== null && this.clock.now() + this.options.renewMs >= this.renewedAt + this.options.leaseMs) {
        await this.stepDown(`cannot renew the leader lease: ${err instanceof Error ? err.message : String(err)}`);
      } else {
        this.log.warn({ err }, 'leader election: the store did not answer; trying again');
      }
      return;
    }
    if (this.stopped) return;
    // Every server says it is alive at each step, so the API can list the replicas beside the leader.
    await this.store.seeReplica(this.options.replicaId, this.options.url, now).catch((err: unknown) => this.log.warn({ err }, 'could not record this replica as alive'));
    this.observe(lease);
    if (lease.holder !== this.options.replicaId) {
      if (this.fence !== null) await this.stepDown(`${lease.holder} holds the lease (term ${lease.term})`);
      return;
    }
    this.renewedAt = now;
    if (this.fence?.term === lease.term) return;
    if (this.fence !== null) await this.stepDown(`term ${this.fence.term} ended; this server leads again in term ${lease.term}`);
    this.fence = { term: lease.term };
    this.metrics.isLeader.set(1);
    this.log.info({ term: lease.term }, 'this server is now the leader');
    await this.duties.elected(this.fence);
  }

  /** A shutdown steps down as planned (info); a lost lease or a refused write is worth a warning. */
  private async stepDown(reason: string, level: 'info' | 'warn' = 'warn'): Promise<void> {
    const fence = this.fence;
    if (fence === null) return;
    this.fence = null;
    this.metrics.isLeader.set(0);
    this.log[level]({ term: fence.term, reason }, 'this server is no longer the leader');
    await this.duties.deposed(reason);
  }

  /** Logs and counts changes of leader (new terms) seen from here. */
  private observe(lease: LeaderLease): void {
    const prev = this.lastSeen;
    this.lastSeen = lease;
    this.metrics.leaderTerm.set(lease.term);
    if (prev !== null && prev.term === lease.term) return;
    if (prev !== null || lease.holder !== this.options.replicaId) this.metrics.leaderChanges.inc();
    if (lease.holder !== this.options.replicaId) this.log.info({ leader: lease.holder, url: lease.url, term: lease.term }, 'leader observed');
  }
}
