import { JOB_STATES, type JobState } from '../../core/types.js';
import type { JobFilter } from '../store.js';
import { JOB_COLUMNS } from './rows.js';

/**
 * Builds the SQL of one listJobs page: newest first, `limit` rows after the
 * cursor's id. The shapes are the SQLite store's (see sqlite/list-jobs-sql.ts),
 * chosen so each page reads about `limit` index entries however large the
 * table grows:
 *   - no state or queue filter: the primary key, backwards;
 *   - a state filter: one range of jobs_state_id per state, each already in id
 *     order and cut at `limit`, merged by a UNION ALL (`state = ANY(…)` would
 *     make PostgreSQL fetch and sort every matching row to return the first few);
 *   - a queue filter: the same per state on jobs_queue_state_id (every state
 *     when none is given);
 *   - the DLQ without a state filter: the partial index jobs_dlq, in id order.
 * Labels are matched by jsonb containment. Values are bound (a parameter used
 * by several branches is bound once); only the shape of the statement varies.
 */
export function listJobsSql(filter: JobFilter, afterId: number | null, limit: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const bind = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const common: string[] = [];
  if (afterId !== null) common.push(`id < ${bind(afterId)}`);
  if (filter.queue !== undefined) common.push(`queue = ${bind(filter.queue)}`);
  if (filter.inDlq !== undefined) common.push(filter.inDlq ? 'in_dlq' : 'NOT in_dlq');
  if (filter.ownerTokenId !== undefined) common.push(`owner_token_id = ${bind(filter.ownerTokenId)}`);
  if (filter.labels !== undefined && Object.keys(filter.labels).length > 0) common.push(`labels @> ${bind(JSON.stringify(filter.labels))}::jsonb`);
  const lim = bind(limit);

  const states: readonly JobState[] | undefined = filter.states !== undefined ? [...new Set(filter.states)] : filter.queue !== undefined ? JOB_STATES : undefined;
  const select = (where: string[]) => `SELECT ${JOB_COLUMNS} FROM jobs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${lim}`;
  if (states === undefined || (filter.inDlq === true && filter.states === undefined)) return { sql: select(common), params };
  if (states.length === 1) return { sql: select([`state = ${bind(states[0])}`, ...common]), params };
  const branches = states.map((s) => `(${select([`state = ${bind(s)}`, ...common])})`);
  return { sql: `SELECT * FROM (${branches.join(' UNION ALL ')}) AS page ORDER BY id DESC LIMIT ${lim}`, params };
}
