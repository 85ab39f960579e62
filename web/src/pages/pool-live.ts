import type { FeedEvent } from '../../../src/core/feed-events.js';
import { useInterval, useRefetchOn } from '../hooks.js';

/**
 * What keeps the pool pages current. Pool definitions, stops, starts and replicas becoming ready are feed
 * events (`pool.*`), and replicas are jobs of queue `pool.<name>`, so their starts and ends are `job.state`
 * events: those are read again at once. Tasks are not in the feed one by one (ADR 0016), so the backlog and
 * the throughput are read on a timer while the page shows and something in it can move.
 */

/** How often a pool page reads its pools while tasks may be flowing. */
export const POOL_REFRESH_MS = 3000;

/** Whether an event concerns pool `name` (any pool when name is not given): a `pool.*` event or a job event of its replicas. */
export function concernsPool(e: FeedEvent, name?: string): boolean {
  if (e.type === 'job.state') return name === undefined ? e.queue.startsWith('pool.') : e.queue === `pool.${name}`;
  if (!e.type.startsWith('pool.')) return false;
  return name === undefined || ('pool' in e && e.pool === name);
}

/** Reads again on the events of `name` (or of every pool), and every POOL_REFRESH_MS unless `quiet`. */
export function usePoolRefresh(reload: () => void, quiet: boolean, name?: string): void {
  useRefetchOn((e) => concernsPool(e, name), reload, 300);
  useInterval(() => {
    if (!quiet) reload();
  }, POOL_REFRESH_MS);
}
