import type { Database, Statement } from 'better-sqlite3';
import type { FeedFilter } from '../../core/feed-events.js';
import type { FeedRead } from '../feed-store.js';
import { FEED_SELECT, feedEventFromRow, MAX_FEED_READ, type FeedRow } from '../feed-row.js';

/**
 * The event feed (feed-store.ts). Events are written by the triggers of migration 0009; here they are read and
 * purged. SQLite has one writer at a time, so AUTOINCREMENT ids grow in commit order.
 */

/** The largest id given (sqlite_sequence keeps it even when retention has deleted that row). */
const SELECT_HEAD = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0) AS head, purged_through FROM event_feed_state WHERE id = 1`;
/**
 * Retention removes a prefix of the feed, by id, so that the mark says exactly what is gone: every event before
 * the first one recorded at or after the cut-off (events are written nearly in time order, so the scan from the
 * oldest reads about what it removes). Parameters: before.
 */
const SELECT_CUT = `SELECT coalesce((SELECT id - 1 FROM events WHERE at >= ? ORDER BY id LIMIT 1), (SELECT max(id) FROM events)) AS id`;
/** Parameters: last id removed. */
const PURGE = `DELETE FROM events WHERE id <= ?`;
/** Parameters: last id removed. */
const RAISE_MARK = `UPDATE event_feed_state SET purged_through = max(purged_through, ?) WHERE id = 1`;

/** The statement of one read's shape; values are bound, so statements are cached by their text. */
function feedSql(after: number | null, filter: FeedFilter, limit: number): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (after !== null) {
    where.push('e.id > ?');
    params.push(after);
  }
  if (filter.jobId !== undefined) {
    where.push('e.job_id = ?');
    params.push(filter.jobId);
  }
  if (filter.queue !== undefined) {
    where.push('j.queue = ?');
    params.push(filter.queue);
  }
  if (filter.types !== undefined) {
    where.push(`e.type IN (${filter.types.map(() => '?').join(', ')})`);
    params.push(...filter.types);
  }
  const cond = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  params.push(limit);
  // Newest first when there is no place to resume from, turned back to oldest first by the caller.
  return { sql: `${FEED_SELECT}${cond} ORDER BY e.id ${after === null ? 'DESC' : 'ASC'} LIMIT ?`, params };
}

const MAX_SHAPES = 64;

export function prepareFeedQueries(db: Database) {
  const selectHead = db.prepare<[], { head: number; purged_through: number }>(SELECT_HEAD);
  const selectCut = db.prepare<[number], { id: number | null }>(SELECT_CUT);
  const purge = db.prepare<[number]>(PURGE);
  const raiseMark = db.prepare<[number]>(RAISE_MARK);
  const shapes = new Map<string, Statement<unknown[], FeedRow>>();

  function readFeed(after: number | null, filter: FeedFilter, limit: number): FeedRead {
    const { sql, params } = feedSql(after, filter, Math.min(limit, MAX_FEED_READ));
    let stmt = shapes.get(sql);
    if (!stmt) {
      if (shapes.size >= MAX_SHAPES) shapes.clear();
      stmt = db.prepare<unknown[], FeedRow>(sql);
      shapes.set(sql, stmt);
    }
    const rows = stmt.all(...params);
    if (after === null) rows.reverse();
    const { head, purged_through } = selectHead.get()!;
    return { events: rows.map(feedEventFromRow), headId: head, purgedThrough: purged_through };
  }

  function purgeFeed(before: number): number {
    const cut = selectCut.get(before);
    if (!cut || cut.id === null || cut.id < 1) return 0;
    raiseMark.run(cut.id);
    return purge.run(cut.id).changes;
  }

  return { readFeed, purgeFeed };
}
