import type { FeedEvent, FeedFilter } from '../core/feed-events.js';
import type { Fence } from './leadership.js';

/**
 * The event feed (core/feed-events.ts) as the store keeps it: table `events`, written by triggers in the
 * transaction of each change (migration 0009), ids growing in commit order on every database. Part of the Store.
 */
export interface FeedStore {
  /**
   * Events after `after` (by id), oldest first, at most `limit`, matching `filter`; or, with `after` null, the
   * newest `limit` matching ones, oldest first. Read in one snapshot with the feed's head and retention mark.
   */
  readFeed(after: number | null, filter: FeedFilter, limit: number): Promise<FeedRead>;
  /**
   * Deletes events recorded before `before` (retention; leader-only, fenced like the other purges), and raises
   * the retention mark to the largest id deleted. Returns how many.
   */
  purgeFeed(before: number, fence?: Fence): Promise<number>;
}

export interface FeedRead {
  events: FeedEvent[];
  /**
   * The largest id given so far (0 for an empty feed). When fewer than `limit` events came back, the reader has
   * seen everything up to here that matches its filter, and resumes after it.
   */
  headId: number;
  /** The largest id retention has removed (0: none): a reader resuming before it may have missed events. */
  purgedThrough: number;
}
