import type { FeedEvent, FeedFilter } from '../core/feed-events.js';
import type { Store } from '../store/store.js';
import type { Subscription } from '../store/store-events.js';

/** Events read from the store at once while following: a reader far behind catches up in pages of this size. */
export const FOLLOW_PAGE = 500;
/**
 * A follower reads the feed again at least this often even without a hint: a NOTIFY lost while the LISTEN
 * connection was down is covered by `resync`, this covers what no event says (e.g. a store of another kind).
 */
const FALLBACK_MS = 2000;

/**
 * Wakes the readers of the event feed on this server when the store says it may have grown: one store
 * subscription for all of them (store events `feed`, and `resync` after a lost LISTEN connection).
 */
export class FeedWatch {
  private readonly waiters = new Set<() => void>();
  private readonly subscription: Subscription;

  constructor(store: Store) {
    this.subscription = store.subscribe((e) => {
      if (e.type === 'feed' || e.type === 'resync') this.wakeAll();
    });
  }

  /** Resolves at the next hint, after `FALLBACK_MS` at the latest, or when `signal` aborts. */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, FALLBACK_MS);
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  close(): void {
    this.subscription.unsubscribe();
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of [...this.waiters]) w();
  }
}

/**
 * The events after `after` that match `filter`, as they are committed, until `signal` aborts: each batch in id
 * order, none twice. Between batches the cursor moves to the feed's head when a read came back short, so a
 * narrow filter does not read the same unmatched events again.
 */
export async function* followFeed(store: Store, watch: FeedWatch, after: number, filter: FeedFilter, signal: AbortSignal): AsyncGenerator<FeedEvent[]> {
  let cursor = after;
  while (!signal.aborted) {
    const read = await store.readFeed(cursor, filter, FOLLOW_PAGE);
    if (read.events.length > 0) yield read.events;
    if (read.events.length === FOLLOW_PAGE) {
      cursor = read.events[read.events.length - 1]!.id;
      continue;
    }
    cursor = Math.max(cursor, read.headId);
    await watch.next(signal);
  }
}
