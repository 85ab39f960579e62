import { DEFAULT_JOB_SORT, type JobSort } from '../../core/job-sort.js';
import { JOB_STATES, type JobState } from '../../core/types.js';
import { foldAscii, orderOf, type ListPosition } from '../job-listing.js';
import type { JobFilter } from '../store.js';
import { JOB_COLUMNS } from './rows.js';

/**
 * Builds the SQL of one listJobs page: `limit` rows after the cursor's position,
 * in the sort's order (ties broken by id in the same direction). Shapes are
 * chosen so each page reads about `limit` index entries however large the
 * table grows:
 *   - by id, no state or queue filter: the primary key, in either direction;
 *   - by id, a state filter: one range of jobs_state_id per state, each already in id
 *     order, merged by a UNION ALL (an IN list would make SQLite sort every
 *     matching row to return the first few);
 *   - by id, a queue filter: the same per state on jobs_queue_state_id (every state
 *     when none is given);
 *   - by id, the DLQ without a state filter: the partial index jobs_dlq, in id order;
 *   - by priority, created or updated: that key's index (key, id) from migration 0011,
 *     walked from the cursor with a row-value comparison, filters applied to the rows
 *     it passes; with a state filter SQLite may instead read that state's rows and
 *     sort them, whichever its statistics say reads less.
 * The name search (a substring, ASCII letters folded) and the owner filters are
 * applied to the rows an index walk passes. Values are bound; only the shape of
 * the statement varies, so statements can be cached by their text. in_dlq is
 * written as a literal so the partial index jobs_dlq can serve it.
 */
export function listJobsSql(filter: JobFilter, after: ListPosition | null, limit: number, sort: JobSort = DEFAULT_JOB_SORT): { sql: string; params: unknown[] } {
  const order = orderOf(sort);
  const cmp = order.descending ? '<' : '>';
  const dir = order.descending ? 'DESC' : 'ASC';
  const byId = order.key === 'id';
  const common: string[] = [];
  const commonParams: unknown[] = [];
  if (after !== null) {
    if (byId) {
      common.push(`id ${cmp} ?`);
      commonParams.push(after.id);
    } else {
      common.push(`(${order.column}, id) ${cmp} (?, ?)`);
      commonParams.push(after.key, after.id);
    }
  }
  if (filter.queue !== undefined) {
    common.push('queue = ?');
    commonParams.push(filter.queue);
  }
  if (filter.inDlq !== undefined) common.push(filter.inDlq ? 'in_dlq = 1' : 'in_dlq = 0');
  if (filter.ownerTokenId !== undefined) {
    common.push('owner_token_id = ?');
    commonParams.push(filter.ownerTokenId);
  }
  if (filter.ownerName !== undefined) {
    common.push('owner = ?');
    commonParams.push(filter.ownerName);
  }
  if (filter.nameContains !== undefined) {
    common.push('instr(lower(name), ?) > 0');
    commonParams.push(foldAscii(filter.nameContains));
  }
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    common.push('EXISTS (SELECT 1 FROM json_each(jobs.labels) WHERE key = ? AND value = ?)');
    commonParams.push(key, value);
  }

  const orderBy = byId ? `id ${dir}` : `${order.column} ${dir}, id ${dir}`;
  const select = (where: string[], index = '') =>
    `SELECT ${JOB_COLUMNS} FROM jobs${index}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy} LIMIT ?`;
  if (!byId) {
    const states = filter.states !== undefined ? [...new Set(filter.states)] : [];
    const where = states.length > 0 ? [`state IN (${states.map(() => '?').join(', ')})`, ...common] : common;
    return { sql: select(where), params: [...states, ...commonParams, limit] };
  }

  const states: readonly JobState[] | undefined = filter.states !== undefined ? [...new Set(filter.states)] : filter.queue !== undefined ? JOB_STATES : undefined;
  if (filter.inDlq === true && filter.states === undefined) return { sql: select(common, ' INDEXED BY jobs_dlq'), params: [...commonParams, limit] };
  if (states === undefined) return { sql: select(common), params: [...commonParams, limit] };
  if (states.length === 1) return { sql: select(['state = ?', ...common]), params: [states[0], ...commonParams, limit] };
  const branch = `SELECT * FROM (${select(['state = ?', ...common])})`;
  const sql = `SELECT * FROM (${states.map(() => branch).join(' UNION ALL ')}) ORDER BY ${orderBy} LIMIT ?`;
  return { sql, params: [...states.flatMap((s) => [s, ...commonParams, limit]), limit] };
}
