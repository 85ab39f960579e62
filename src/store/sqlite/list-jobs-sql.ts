import { JOB_STATES, type JobState } from '../../core/types.js';
import type { JobFilter } from '../store.js';
import { JOB_COLUMNS } from './rows.js';

/**
 * Builds the SQL of one listJobs page: newest first, `limit` rows after the
 * cursor's id. Shapes are chosen so each page reads about `limit` index entries
 * however large the table grows:
 *   - no state or queue filter: the primary key, backwards;
 *   - a state filter: one range of jobs_state_id per state, each already in id
 *     order, merged by a UNION ALL (an IN list would make SQLite sort every
 *     matching row to return the first few);
 *   - a queue filter: the same per state on jobs_queue_state_id (every state
 *     when none is given);
 *   - the DLQ without a state filter: the partial index jobs_dlq, in id order.
 * Values are bound; only the shape of the statement varies, so statements can
 * be cached by their text. in_dlq is written as a literal so the partial index
 * jobs_dlq can serve it.
 */
export function listJobsSql(filter: JobFilter, afterId: number | null, limit: number): { sql: string; params: unknown[] } {
  const common: string[] = [];
  const commonParams: unknown[] = [];
  if (afterId !== null) {
    common.push('id < ?');
    commonParams.push(afterId);
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
  for (const [key, value] of Object.entries(filter.labels ?? {})) {
    common.push('EXISTS (SELECT 1 FROM json_each(jobs.labels) WHERE key = ? AND value = ?)');
    commonParams.push(key, value);
  }

  const states: readonly JobState[] | undefined = filter.states !== undefined ? [...new Set(filter.states)] : filter.queue !== undefined ? JOB_STATES : undefined;
  const select = (where: string[], index = '') =>
    `SELECT ${JOB_COLUMNS} FROM jobs${index}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  if (filter.inDlq === true && filter.states === undefined) return { sql: select(common, ' INDEXED BY jobs_dlq'), params: [...commonParams, limit] };
  if (states === undefined) return { sql: select(common), params: [...commonParams, limit] };
  if (states.length === 1) return { sql: select(['state = ?', ...common]), params: [states[0], ...commonParams, limit] };
  const branch = `SELECT * FROM (${select(['state = ?', ...common])})`;
  const sql = `SELECT * FROM (${states.map(() => branch).join(' UNION ALL ')}) ORDER BY id DESC LIMIT ?`;
  return { sql, params: [...states.flatMap((s) => [s, ...commonParams, limit]), limit] };
}
