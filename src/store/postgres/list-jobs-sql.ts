import { DEFAULT_JOB_SORT, type JobSort } from '../../core/job-sort.js';
import { JOB_STATES, type JobState } from '../../core/types.js';
import { foldAscii, orderOf, type ListPosition } from '../job-listing.js';
import type { JobFilter } from '../store.js';
import { JOB_COLUMNS } from './rows.js';

/**
 * Builds the SQL of one listJobs page: `limit` rows after the cursor's position,
 * in the sort's order (ties broken by id in the same direction). The shapes are
 * the SQLite store's (see sqlite/list-jobs-sql.ts), chosen so each page reads
 * about `limit` index entries however large the table grows:
 *   - by id, no state or queue filter: the primary key, in either direction;
 *   - by id, a state filter: one range of jobs_state_id per state, each already in id
 *     order and cut at `limit`, merged by a UNION ALL (`state = ANY(…)` would
 *     make PostgreSQL fetch and sort every matching row to return the first few);
 *   - by id, a queue filter: the same per state on jobs_queue_state_id (every state
 *     when none is given);
 *   - by id, the DLQ without a state filter: the partial index jobs_dlq, in id order;
 *   - by priority, created or updated: that key's index (key, id) from migration 0011,
 *     from the cursor by a row comparison, or the state's rows sorted when the planner
 *     finds that cheaper.
 * Labels are matched by jsonb containment; the name search is a substring of the
 * name with ASCII letters folded (lower() under COLLATE "C", as SQLite's lower()).
 * Values are bound (a parameter used by several branches is bound once); only the
 * shape of the statement varies.
 */
export function listJobsSql(filter: JobFilter, after: ListPosition | null, limit: number, sort: JobSort = DEFAULT_JOB_SORT): { sql: string; params: unknown[] } {
  const order = orderOf(sort);
  const cmp = order.descending ? '<' : '>';
  const dir = order.descending ? 'DESC' : 'ASC';
  const byId = order.key === 'id';
  const params: unknown[] = [];
  const bind = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const common: string[] = [];
  if (after !== null) common.push(byId ? `id ${cmp} ${bind(after.id)}` : `(${order.column}, id) ${cmp} (${bind(after.key)}, ${bind(after.id)})`);
  if (filter.queue !== undefined) common.push(`queue = ${bind(filter.queue)}`);
  if (filter.inDlq !== undefined) common.push(filter.inDlq ? 'in_dlq' : 'NOT in_dlq');
  if (filter.ownerTokenId !== undefined) common.push(`owner_token_id = ${bind(filter.ownerTokenId)}`);
  if (filter.ownerName !== undefined) common.push(`owner = ${bind(filter.ownerName)}`);
  if (filter.nameContains !== undefined) common.push(`strpos(lower(name COLLATE "C"), ${bind(foldAscii(filter.nameContains))}) > 0`);
  if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) common.push(`labels @> ${bind(JSON.stringify(filter.labels))}::jsonb`);
  const lim = bind(limit);

  const orderBy = byId ? `id ${dir}` : `${order.column} ${dir}, id ${dir}`;
  const select = (where: string[]) => `SELECT ${JOB_COLUMNS} FROM jobs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${orderBy} LIMIT ${lim}`;
  if (!byId) {
    const states = filter.states !== undefined ? [...new Set(filter.states)] : [];
    return { sql: select(states.length > 0 ? [`state = ANY(${bind(states)}::text[])`, ...common] : common), params };
  }

  const states: readonly JobState[] | undefined = filter.states !== undefined ? [...new Set(filter.states)] : filter.queue !== undefined ? JOB_STATES : undefined;
  if (states === undefined || (filter.inDlq === true && filter.states === undefined)) return { sql: select(common), params };
  if (states.length === 1) return { sql: select([`state = ${bind(states[0])}`, ...common]), params };
  const branches = states.map((s) => `(${select([`state = ${bind(s)}`, ...common])})`);
  return { sql: `SELECT * FROM (${branches.join(' UNION ALL ')}) AS page ORDER BY ${orderBy} LIMIT ${lim}`, params };
}
