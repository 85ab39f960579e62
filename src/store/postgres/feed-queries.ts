import type { FeedFilter } from '../../core/feed-events.js';
import type { FeedRead } from '../feed-store.js';
import { FEED_SELECT, feedEventFromRow, MAX_FEED_READ, type FeedRow } from '../feed-row.js';
import type { Sql } from './postgres-pool.js';

/**
 * The event feed (feed-store.ts). Events are staged by the triggers of migration 0009 and given their ids at
 * COMMIT, in commit order (see that migration); here they are read and purged.
 */

const SELECT_STATE = `SELECT last_id, purged_through FROM event_feed_state WHERE id = 1`;
/**
 * Retention removes a prefix of the feed, by id, so that the mark says exactly what is gone: every event before
 * the first one recorded at or after the cut-off (events are written nearly in time order, so the scan from the
 * oldest reads about what it removes). Parameters: before.
 */
const SELECT_CUT = `SELECT coalesce((SELECT id - 1 FROM events WHERE at >= $1 ORDER BY id LIMIT 1), (SELECT max(id) FROM events)) AS id`;
/** Parameters: last id removed. */
const PURGE = `DELETE FROM events WHERE id <= $1`;
/** Parameters: last id removed. */
const RAISE_MARK = `UPDATE event_feed_state SET purged_through = greatest(purged_through, $1) WHERE id = 1`;

/** The statement of one read's shape, with its values bound. */
function feedSql(after: number | null, filter: FeedFilter, limit: number): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (after !== null) where.push(`e.id > ${bind(after)}`);
  if (filter.jobId !== undefined) where.push(`e.job_id = ${bind(filter.jobId)}`);
  if (filter.queue !== undefined) where.push(`j.queue = ${bind(filter.queue)}`);
  if (filter.types !== undefined) where.push(`e.type = ANY(${bind(filter.types)}::text[])`);
  const cond = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  // Newest first when there is no place to resume from, turned back to oldest first by the caller.
  return { sql: `${FEED_SELECT}${cond} ORDER BY e.id ${after === null ? 'DESC' : 'ASC'} LIMIT ${bind(limit)}`, params };
}

/** Runs in one REPEATABLE READ snapshot (the caller's), so the head and the events agree. */
export async function readFeed(sql: Sql, after: number | null, filter: FeedFilter, limit: number): Promise<FeedRead> {
  const q = feedSql(after, filter, Math.min(limit, MAX_FEED_READ));
  const rows = await sql.query<FeedRow>(q.sql, q.params);
  if (after === null) rows.reverse();
  const [state] = await sql.query<{ last_id: number; purged_through: number }>(SELECT_STATE);
  return { events: rows.map(feedEventFromRow), headId: state?.last_id ?? 0, purgedThrough: state?.purged_through ?? 0 };
}

export async function purgeFeed(sql: Sql, before: number): Promise<number> {
  const [cut] = await sql.query<{ id: number | null }>(SELECT_CUT, [before]);
  if (!cut || cut.id === null || cut.id < 1) return 0;
  await sql.execute(RAISE_MARK, [cut.id]);
  return sql.execute(PURGE, [cut.id]);
}
