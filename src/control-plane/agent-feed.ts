import type { Logger } from 'pino';
import type { AgentControl } from '../agent/agent-link.js';
import type { StoreEvent, Subscription } from '../store/store-events.js';
import type { AssignedAttempt, Store } from '../store/store.js';

/**
 * Delivers an agent's work to it: the attempts assigned to its node, and the
 * cancels of its live attempts, each exactly once per attached agent.
 *
 * Two ways in. The leader hands what it just assigned or cancelled straight to
 * the agents attached to its own server (`deliver`, `cancel`): no store read,
 * the fast path of a single-server install. Work decided on another server
 * (the leader of a cluster, an API call to another replica) reaches this one
 * as a store event (store-events.ts); the feed then reads the node's assigned
 * attempts or live attempts from the store and passes on what the agent has
 * not had yet. A periodic read covers events lost with a broken connection.
 *
 * Exactly once: every attempt handed over is remembered until the store no
 * longer holds it assigned: its start or end was recorded (`forget`, called
 * by the control plane after the store took the report), or a read from the
 * store begun after the hand-over no longer lists it.
 */
export class AgentFeed {
  /** Attempt ids handed to the agent, with the hand-over's sequence number. */
  private readonly delivered = new Map<number, number>();
  private readonly cancelled = new Set<number>();
  /** Attempts forgotten while a read of assigned attempts was in flight: that read may still list them. */
  private readonly forgottenDuringRead = new Set<number>();
  private readsInFlight = 0;
  private seq = 0;
  private sub: Subscription | null = null;
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    readonly agent: AgentControl,
    /** Whether this server leads: then every assignment reaches the agent through `deliver`, and events need no read. */
    private readonly isLeader: () => boolean,
    private readonly log: Logger,
    private readonly pollMs: number,
  ) {}

  async start(): Promise<void> {
    this.sub = this.store.subscribe((e) => this.onEvent(e));
    await this.sub.ready;
    this.timer = setInterval(() => {
      if (!this.isLeader()) void this.sync();
    }, this.pollMs);
    this.timer.unref();
    await this.sync();
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.timer) clearInterval(this.timer);
  }

  /** The leader's hand-off of attempts it just assigned to this agent's node. */
  deliver(attempts: AssignedAttempt[]): void {
    const fresh = attempts.filter((a) => !this.delivered.has(a.attemptId));
    if (fresh.length === 0) return;
    const seq = ++this.seq;
    for (const a of fresh) this.delivered.set(a.attemptId, seq);
    this.agent.run(fresh);
  }

  /** The store no longer holds these attempts assigned (their start or end was recorded): no read can list them again. */
  forget(attemptIds: readonly number[]): void {
    for (const id of attemptIds) {
      this.delivered.delete(id);
      if (this.readsInFlight > 0) this.forgottenDuringRead.add(id);
    }
  }

  cancel(attemptIds: number[], reason: string): void {
    const fresh = attemptIds.filter((id) => !this.cancelled.has(id));
    if (fresh.length === 0) return;
    for (const id of fresh) this.cancelled.add(id);
    this.agent.cancel(fresh, reason);
  }

  /** Reads the node's assigned attempts and cancel requests from the store and passes on what is new. */
  sync(): Promise<void> {
    this.syncing = this.syncing.then(() => Promise.all([this.syncAssigned(), this.syncCancels()])).then(
      () => {},
      (err: unknown) => this.log.warn({ err, nodeId: this.agent.nodeId }, 'reading the agent\'s work from the store failed; retrying on the next event or period'),
    );
    return this.syncing;
  }

  private onEvent(e: StoreEvent): void {
    const node = this.agent.nodeId;
    if (e.type === 'resync') void this.sync();
    else if (e.type === 'assigned' && e.nodeIds.includes(node) && !this.isLeader()) void this.syncAssigned().catch((err: unknown) => this.log.warn({ err }, 'reading assigned attempts failed'));
    else if (e.type === 'cancel' && e.nodeIds.includes(node)) void this.syncCancels().catch((err: unknown) => this.log.warn({ err }, 'reading cancel requests failed'));
  }

  private async syncAssigned(): Promise<void> {
    const before = this.seq;
    this.readsInFlight++;
    let listed: AssignedAttempt[];
    try {
      listed = (await this.store.listAssignedAttempts(this.agent.nodeId)).filter((a) => !this.forgottenDuringRead.has(a.attemptId));
    } finally {
      if (--this.readsInFlight === 0) this.forgottenDuringRead.clear();
    }
    const ids = new Set(listed.map((a) => a.attemptId));
    for (const [id, seq] of this.delivered) if (seq <= before && !ids.has(id)) this.delivered.delete(id);
    this.deliver(listed);
  }

  private async syncCancels(): Promise<void> {
    const live = await this.store.listLiveAttempts(this.agent.nodeId);
    const ids = new Set(live.map((a) => a.id));
    for (const id of this.cancelled) if (!ids.has(id)) this.cancelled.delete(id);
    this.cancel(live.filter((a) => a.cancelRequested).map((a) => a.id), 'cancelled');
  }
}
