/**
 * SQL used by more than one query module, and the event batch.
 *
 * An attempt is live while `assigned` or `running`; every query spells the
 * condition with LIVE_ATTEMPT so the partial indexes of 0001-init.sql
 * (`WHERE state IN ('assigned', 'running')`) apply.
 *
 * Batches travel as one array per column and are expanded with unnest(), so a
 * call writes any number of rows in one statement and one round trip.
 */
export const LIVE_ATTEMPT = `state IN ('assigned', 'running')`;

/**
 * Records job transitions, in the order they were added: event ids follow it, and listEvents
 * orders by id. `first` is the number of the statement's first parameter for the six arrays.
 * Parameters: job_id bigint[], attempt int[], from_state text[], to_state text[], at float8[], reason text[].
 */
export function insertEventsSql(first: number): string {
  const p = (i: number) => `$${first + i}`;
  return `INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
  SELECT job_id, attempt, from_state, to_state, at, reason
  FROM unnest(${p(0)}::bigint[], ${p(1)}::int[], ${p(2)}::text[], ${p(3)}::text[], ${p(4)}::float8[], ${p(5)}::text[])
    WITH ORDINALITY AS e(job_id, attempt, from_state, to_state, at, reason, ord)
  ORDER BY ord`;
}

/** Job transitions gathered while a call decides, written by one insertEventsSql statement. */
export class EventBatch {
  private readonly jobIds: number[] = [];
  private readonly attempts: (number | null)[] = [];
  private readonly froms: (string | null)[] = [];
  private readonly tos: string[] = [];
  private readonly ats: number[] = [];
  private readonly reasons: (string | null)[] = [];

  add(jobId: number, attempt: number | null, from: string | null, to: string, at: number, reason: string | null): void {
    this.jobIds.push(jobId);
    this.attempts.push(attempt);
    this.froms.push(from);
    this.tos.push(to);
    this.ats.push(at);
    this.reasons.push(reason);
  }

  get size(): number {
    return this.jobIds.length;
  }

  /** The six arrays, in insertEventsSql's parameter order. */
  params(): unknown[] {
    return [this.jobIds, this.attempts, this.froms, this.tos, this.ats, this.reasons];
  }
}

/** The same ids once each, first occurrence first: a repeated id in one call acts once, as if called one after another. */
export function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
