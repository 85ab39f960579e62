/**
 * Changes other parts of gpuq wait on, announced by the store once they are
 * committed: on PostgreSQL through LISTEN/NOTIFY, so every server sharing the
 * database hears every server's writes; on SQLite (one server) in process.
 *
 * Events are hints that something may be waiting, never the data itself:
 * a listener reads what it needs from the store. One may be lost (a LISTEN
 * connection that broke); `resync` then says to read everything again.
 */
export type StoreEvent =
  /** Queued work may have become runnable: a submit, a replay, an attempt end, a node (re)registered. */
  | { type: 'work' }
  /** Attempts were assigned to these nodes: their agents have work to fetch. */
  | { type: 'assigned'; nodeIds: string[] }
  /** Live attempts on these nodes were asked to stop (cancel). */
  | { type: 'cancel'; nodeIds: string[] }
  /** The maintenance mode changed. */
  | { type: 'maintenance' }
  /** Tasks of these pools may have become claimable (submitted, redelivered, replayed): waiting replica hosts claim again. */
  | { type: 'pool-tasks'; pools: string[] }
  /**
   * Tasks of these pools ended (a result, an error, a give-up): callers waiting for results read them. `tasks` names
   * the tasks that ended when the writer knows them (and they fit a notification); without it, any task of the pools may have.
   */
  | { type: 'pool-results'; pools: string[]; tasks?: number[] }
  /** A pool's definition or state changed, or one of its replicas became ready or was asked to stop: the pool controller looks again. */
  | { type: 'pools' }
  /** Events were appended to the event feed (feed-store.ts). */
  | { type: 'feed' }
  /** Events may have been missed: read again whatever is waited on. */
  | { type: 'resync' };

export type StoreEventListener = (event: StoreEvent) => void;

export interface Subscription {
  /** Resolves once events are being heard (a LISTEN is in place); what was announced before may have been missed. */
  readonly ready: Promise<void>;
  unsubscribe(): void;
}

export interface StoreEvents {
  /** Calls `listener` for each event until unsubscribed. */
  subscribe(listener: StoreEventListener): Subscription;
}
