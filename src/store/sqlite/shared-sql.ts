/**
 * SQL fragments and statements used by more than one query module. An attempt
 * is live while `assigned` or `running`; every query spells the condition with
 * LIVE_ATTEMPT so the partial indexes of 0001-init.sql (`WHERE state IN
 * ('assigned', 'running')`) apply.
 */
export const LIVE_ATTEMPT = `state IN ('assigned', 'running')`;

/**
 * Records one job transition.
 * Parameters: job_id, attempt (number within the job, or null), from_state (null for the first), to_state, at, reason.
 */
export const INSERT_EVENT = `INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, ?, ?)`;
export type InsertEventParams = [jobId: number, attempt: number | null, from: string | null, to: string, at: number, reason: string | null];
