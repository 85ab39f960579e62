import type { TaskState } from '../core/pool-spec.js';
import { checkPageLimit, decodeCursor, encodeCursor, type Page, type PageRequest } from './page.js';
import { TASK_COLUMNS } from './pool-row.js';

/**
 * A page of a pool's tasks, newest first (GET /v1/pools/:name/tasks), the same SQL on every database but for how a
 * parameter is written (`?` on SQLite, `$n` on PostgreSQL). The cursor is the last id of the page ("t" cursors, page.ts).
 */

export interface TaskFilter {
  states?: TaskState[];
  inDlq?: boolean;
}

/** The statement and its parameters; `null` when the filter matches nothing (an empty list of states). */
export function listTasksSql(pool: string, filter: TaskFilter, page: PageRequest, placeholder: (n: number) => string): { sql: string; params: unknown[] } | null {
  checkPageLimit(page);
  const after = page.cursor === undefined ? null : decodeCursor('t', page.cursor);
  if (filter.states !== undefined && filter.states.length === 0) return null;
  const params: unknown[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return placeholder(params.length);
  };
  const where = [`pool = ${bind(pool)}`];
  if (filter.states !== undefined) where.push(`state IN (${[...new Set(filter.states)].map((s) => bind(s)).join(', ')})`);
  // Spelled as the partial index's condition on each database (in_dlq = 1 / in_dlq), so the DLQ listing reads that index.
  if (filter.inDlq !== undefined) where.push(placeholder(0) === '?' ? `in_dlq = ${filter.inDlq ? 1 : 0}` : filter.inDlq ? 'in_dlq' : 'NOT in_dlq');
  if (after !== null) where.push(`id < ${bind(after)}`);
  return { sql: `SELECT ${TASK_COLUMNS} FROM pool_tasks WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${bind(page.limit + 1)}`, params };
}

/** The page from rows read with limit + 1. */
export function taskPage<T extends { id: number }>(rows: T[], limit: number): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items[items.length - 1];
  return { items, nextCursor: more && last ? encodeCursor('t', last.id) : null };
}
