import { ValidationError } from '../core/errors.js';
import { jobOrder, type JobOrder, type JobSort, type JobSortKey } from '../core/job-sort.js';
import type { Job } from '../core/types.js';
import { decodeCursor, encodeCursor } from './page.js';

/**
 * What both stores' listJobs share: the column behind each sort key, the cursor
 * of a page in any order, and the name search's case folding.
 *
 * A cursor is the last row's place in the order: its id for the id orders, its
 * key and id for the others (ties are broken by id, in the sort's direction).
 * The newest-first cursor keeps the form it always had ("j<id>", page.ts); the
 * others name their sort, so a cursor read with another sort is refused instead
 * of silently skipping or repeating rows.
 */

export const SORT_COLUMNS: Readonly<Record<JobSortKey, string>> = Object.freeze({ id: 'id', priority: 'priority', created: 'created_at', updated: 'updated_at' });

/** Where a page starts: after the row with this key (null for the id orders) and id. */
export interface ListPosition {
  key: number | null;
  id: number;
}

const sortKeyOf = (key: JobSortKey, job: Job): number => (key === 'priority' ? job.priority : key === 'created' ? job.createdAt : job.updatedAt);

export function encodeJobCursor(sort: JobSort, last: Job): string {
  const { key } = jobOrder(sort);
  if (sort === '-id') return encodeCursor('j', last.id);
  const body = key === 'id' ? `j${sort}:${last.id}` : `j${sort}:${sortKeyOf(key, last)}:${last.id}`;
  return Buffer.from(body).toString('base64url');
}

export function decodeJobCursor(sort: JobSort, cursor: string): ListPosition {
  if (sort === '-id') return { key: null, id: decodeCursor('j', cursor) };
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^j(-?[a-z]+):(?:(-?\d{1,20}(?:\.\d{1,20})?(?:e[+-]?\d{1,3})?):)?(\d{1,15})$/.exec(text);
  const made = m?.[1];
  const { key } = jobOrder(sort);
  // A key the column could not hold (a forged cursor) is refused here, not by the database.
  const keyOk = m?.[2] === undefined ? key === 'id' : key !== 'id' && (key === 'priority' ? Number.isInteger(Number(m[2])) && Math.abs(Number(m[2])) <= 2 ** 31 - 1 : Number.isFinite(Number(m[2])));
  if (!m || made !== sort || !keyOk) {
    const other = m ? ` (it was made for sort=${made})` : /^j\d{1,15}$/.test(text) ? ' (it was made for sort=-id)' : '';
    throw new ValidationError([{ path: 'cursor', message: `is not a cursor returned by a previous page with sort=${sort}${other}; start again without one` }]);
  }
  return { key: m[2] === undefined ? null : Number(m[2]), id: Number(m[3]) };
}

/** A sort's key, direction and column, for a store building its statement. */
export function orderOf(sort: JobSort): JobOrder & { column: string } {
  const order = jobOrder(sort);
  return { ...order, column: SORT_COLUMNS[order.key] };
}

/**
 * The name search folds ASCII letters only, the same on both databases (SQLite's lower() knows
 * no other letters; PostgreSQL's lower() under COLLATE "C" neither), so a search finds the same jobs anywhere.
 */
export function foldAscii(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}
