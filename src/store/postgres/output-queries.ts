import type { ArtifactEntry, JobOutput } from '../../core/job-output.js';
import type { AttemptState } from '../../core/types.js';
import type { EndReport } from '../store.js';
import type { Sql } from './postgres-pool.js';

/**
 * Attempt outputs (core/job-output.ts): recorded with the attempt's end, by a CTE of endAttempts' own
 * statement (no extra round trip); read by the API's result and artifact routes.
 */

/**
 * A CTE (named outputs) for END_ATTEMPTS: records the output of each attempt the statement ended (CTE
 * `ended`) whose report carried one. Parameters, by report: `ids` bigint[], then result, note and
 * artifacts (JSON) text[], artifacts null where the report carried no output.
 */
export const recordOutputsCte = (ids: string, result: string, note: string, artifacts: string): string => `outputs AS (
    INSERT INTO attempt_outputs (attempt_id, job_id, number, result, note, artifacts)
    SELECT e.id, e.job_id, e.number, o.result::json, o.note, o.artifacts::json
    FROM ended e JOIN unnest(${ids}::bigint[], ${result}::text[], ${note}::text[], ${artifacts}::text[]) AS o(id, result, note, artifacts) ON o.id = e.id
    WHERE o.artifacts IS NOT NULL
  )`;

/** The three output columns of END_ATTEMPTS, one entry per report. */
export function outputColumns(reports: readonly EndReport[]): [(string | null)[], (string | null)[], (string | null)[]] {
  return [reports.map((r) => r.output?.result ?? null), reports.map((r) => r.output?.note ?? null), reports.map((r) => (r.output ? JSON.stringify(r.output.artifacts) : null))];
}

/** result as text: kept exactly as the job wrote it (the pool would parse json). */
const OUTPUT_COLUMNS = `o.job_id, o.number, o.attempt_id, a.node_id, a.state, o.result::text AS result, o.note, o.artifacts`;
/** The latest output of a job. Parameters: job_id. */
const SELECT_LATEST = `SELECT ${OUTPUT_COLUMNS} FROM attempt_outputs o JOIN attempts a ON a.id = o.attempt_id WHERE o.job_id = $1 ORDER BY o.number DESC LIMIT 1`;
/** Parameters: job_id, number. */
const SELECT_OF_ATTEMPT = `SELECT ${OUTPUT_COLUMNS} FROM attempt_outputs o JOIN attempts a ON a.id = o.attempt_id WHERE o.job_id = $1 AND o.number = $2`;

interface OutputRow {
  job_id: number;
  number: number;
  attempt_id: number;
  node_id: string;
  state: string;
  result: string | null;
  note: string | null;
  artifacts: ArtifactEntry[];
}

export async function getJobOutput(sql: Sql, jobId: number, attempt?: number): Promise<JobOutput | null> {
  const [row] = attempt === undefined ? await sql.query<OutputRow>(SELECT_LATEST, [jobId]) : await sql.query<OutputRow>(SELECT_OF_ATTEMPT, [jobId, attempt]);
  if (!row) return null;
  return { jobId: row.job_id, attempt: row.number, attemptId: row.attempt_id, nodeId: row.node_id, state: row.state as AttemptState, result: row.result, note: row.note, artifacts: row.artifacts };
}
