import type { Database } from 'better-sqlite3';
import type { ArtifactEntry, AttemptOutput, JobOutput } from '../../core/job-output.js';
import type { AttemptState } from '../../core/types.js';

/**
 * Attempt outputs (core/job-output.ts): recorded with the attempt's end, in endAttempts' transaction;
 * read by the API's result and artifact routes.
 */

/** Parameters: attempt_id, job_id, number, result (JSON text or null), note, artifacts (JSON). */
const INSERT_OUTPUT = `INSERT INTO attempt_outputs (attempt_id, job_id, number, result, note, artifacts) VALUES (?, ?, ?, ?, ?, ?)`;
const OUTPUT_COLUMNS = `o.job_id, o.number, o.attempt_id, a.node_id, a.state, o.result, o.note, o.artifacts`;
/** The latest output of a job. Parameters: job_id. */
const SELECT_LATEST = `SELECT ${OUTPUT_COLUMNS} FROM attempt_outputs o JOIN attempts a ON a.id = o.attempt_id WHERE o.job_id = ? ORDER BY o.number DESC LIMIT 1`;
/** Parameters: job_id, number. */
const SELECT_OF_ATTEMPT = `SELECT ${OUTPUT_COLUMNS} FROM attempt_outputs o JOIN attempts a ON a.id = o.attempt_id WHERE o.job_id = ? AND o.number = ?`;

interface OutputRow {
  job_id: number;
  number: number;
  attempt_id: number;
  node_id: string;
  state: string;
  result: string | null;
  note: string | null;
  artifacts: string;
}

export type OutputQueries = ReturnType<typeof prepareOutputQueries>;

export function prepareOutputQueries(db: Database) {
  const insertOutput = db.prepare<[number, number, number, string | null, string | null, string]>(INSERT_OUTPUT);
  const selectLatest = db.prepare<[number], OutputRow>(SELECT_LATEST);
  const selectOfAttempt = db.prepare<[number, number], OutputRow>(SELECT_OF_ATTEMPT);

  function record(attemptId: number, jobId: number, number: number, output: AttemptOutput): void {
    insertOutput.run(attemptId, jobId, number, output.result, output.note, JSON.stringify(output.artifacts));
  }

  function getJobOutput(jobId: number, attempt?: number): JobOutput | null {
    const row = attempt === undefined ? selectLatest.get(jobId) : selectOfAttempt.get(jobId, attempt);
    if (!row) return null;
    return {
      jobId: row.job_id,
      attempt: row.number,
      attemptId: row.attempt_id,
      nodeId: row.node_id,
      state: row.state as AttemptState,
      result: row.result,
      note: row.note,
      artifacts: JSON.parse(row.artifacts) as ArtifactEntry[],
    };
  }

  return { record, getJobOutput };
}
