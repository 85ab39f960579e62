import { isLive, isTerminal } from '../../core/job-states.js';
import type { Attempt, JobState } from '../../core/types.js';
import type { JobSpec } from '../../core/job-spec.js';
import type { AssignedAttempt, AttemptOrigin, DecideFn, EndReport, ReportResult, StartReport } from '../store.js';
import type { Sql } from './postgres-pool.js';
import { ATTEMPT_COLUMNS, attemptFromRow, type AttemptRow } from './rows.js';
import { EventBatch, insertEventsSql, LIVE_ATTEMPT } from './shared-sql.js';
import type { EndedJob } from '../../core/dependencies.js';
import * as deps from './dependency-queries.js';
import { outputColumns, recordOutputsCte } from './output-queries.js';
import { recordGpuUsageCte, usageColumns } from './gpu-usage-queries.js';

/**
 * The attempt lifecycle after placement: markRunning → endAttempts, plus
 * leases. While live, an attempt holds its devices through rows in
 * `device_holds` (deleted here when it ends) and its run slots through its
 * `slots` column. Every report from an agent is fenced: the UPDATE that applies
 * it changes (and returns) only attempts still in the state the report applies
 * to, so a report for an attempt that was reclaimed or already ended changes
 * nothing, even when two replicas race to end one attempt (the second waits for
 * the first's row lock, then finds it no longer live).
 *
 * Lock order, as everywhere in this store: the reports' jobs first (in id
 * order), then their attempts, so a report never deadlocks with a cancel, which
 * locks a job and then flags its attempts.
 */

/** Locks the jobs of the reported attempts, and reads what the decision needs. Parameters: attempt ids bigint[]. */
const LOCK_JOBS_OF_ATTEMPTS = `SELECT id, state, attempts, attempt_limit, backoff_initial_s, backoff_max_s, backoff_multiplier,
    not_before, in_dlq, reason, finished_at, node_id, devices, started_at
  FROM jobs WHERE id IN (SELECT job_id FROM attempts WHERE id = ANY($1::bigint[])) ORDER BY id FOR NO KEY UPDATE`;

/** Parameters: id bigint[], pid int[], log_path text[], started_at float8[]. */
const START_ATTEMPTS = `UPDATE attempts a SET state = 'running', pid = r.pid, log_path = r.log_path, started_at = r.started_at
  FROM unnest($1::bigint[], $2::int[], $3::text[], $4::float8[]) AS r(id, pid, log_path, started_at)
  WHERE a.id = r.id AND a.state = 'assigned'
  RETURNING a.id, a.job_id, a.number`;

/**
 * Ends live attempts, frees their devices and records their outputs and GPU figures. A start sent with the end is kept only where none was recorded.
 * Parameters: id bigint[], state, exit_code int[], signal, reason text[], ended_at, started_at float8[], pid int[], log_path text[],
 * then the outputs' result, note and artifacts text[] (output-queries.ts), then the eight GPU usage arrays (gpu-usage-queries.ts).
 */
const END_ATTEMPTS = `WITH ended AS (
    UPDATE attempts a SET state = r.state, exit_code = r.exit_code, signal = r.signal, reason = r.reason, ended_at = r.ended_at,
      started_at = coalesce(a.started_at, r.started_at), pid = coalesce(a.pid, r.pid), log_path = coalesce(a.log_path, r.log_path)
    FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::float8[], $7::float8[], $8::int[], $9::text[])
      AS r(id, state, exit_code, signal, reason, ended_at, started_at, pid, log_path)
    WHERE a.id = r.id AND a.${LIVE_ATTEMPT}
    RETURNING a.id, a.job_id, a.number
  ), freed AS (
    DELETE FROM device_holds WHERE attempt_id IN (SELECT id FROM ended)
  ), ${recordOutputsCte('$1', '$10', '$11', '$12')}, ${recordGpuUsageCte(13)}
  SELECT id, job_id, number FROM ended`;

/**
 * Writes the jobs' new columns, computed in endAttempts from their locked rows, and the events.
 * Parameters: id bigint[], state text[], started_at, not_before float8[], in_dlq bool[], reason text[], finished_at float8[],
 * node_id text[], devices (JSON text[]), now, then the six event arrays, then the ids of the jobs that succeeded (bigint[]:
 * the jobs waiting for them are told, dependency-queries.ts).
 */
const WRITE_JOBS_AFTER_END = `WITH updated AS (
    UPDATE jobs j SET state = u.state, started_at = u.started_at, not_before = u.not_before, in_dlq = u.in_dlq, reason = u.reason,
      finished_at = u.finished_at, node_id = u.node_id, devices = u.devices::jsonb, updated_at = $10
    FROM unnest($1::bigint[], $2::text[], $3::float8[], $4::float8[], $5::bool[], $6::text[], $7::float8[], $8::text[], $9::text[])
      AS u(id, state, started_at, not_before, in_dlq, reason, finished_at, node_id, devices)
    WHERE j.id = u.id
  ), ${deps.meetDependentsCtes('$17')}
  ${insertEventsSql(11)}`;

/** Starts assigned jobs (their first start is kept: the queue wait is measured to it). Parameters: id bigint[], started_at float8[], now, events. */
const WRITE_JOBS_STARTED = `WITH started AS (
    UPDATE jobs j SET state = 'running', started_at = coalesce(j.started_at, r.started_at), updated_at = $3
    FROM unnest($1::bigint[], $2::float8[]) AS r(id, started_at)
    WHERE j.id = r.id AND j.state = 'assigned'
  )
  ${insertEventsSql(4)}`;

/** Parameters: lease_expires_at, attempt ids bigint[], node_id. */
const RENEW_LEASES = `UPDATE attempts SET lease_expires_at = $1 WHERE id = ANY($2::bigint[]) AND node_id = $3 AND ${LIVE_ATTEMPT} RETURNING id`;
const SELECT_LIVE = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} ORDER BY id`;
/** Parameters: node_id. */
/** $1 node id. */
const SELECT_ASSIGNED_ON_NODE = `SELECT a.id, a.job_id, a.number, a.node_id, a.devices, a.lease_expires_at, j.spec, j.created_at
  FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.state = 'assigned' AND a.node_id = $1 ORDER BY a.id`;
const SELECT_LIVE_ON_NODE = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} AND node_id = $1 ORDER BY id`;
/** Parameters: attempt ids bigint[]. */
const SELECT_ORIGINS = `SELECT a.id, a.number, a.started_at, j.queue, j.created_at FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.id = ANY($1::bigint[])`;
/** Parameters: now. */
const SELECT_EXPIRED = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} AND lease_expires_at < $1 ORDER BY lease_expires_at, id`;

interface LockedJobRow {
  id: number;
  state: string;
  attempts: number;
  attempt_limit: number;
  backoff_initial_s: number;
  backoff_max_s: number;
  backoff_multiplier: number;
  not_before: number;
  in_dlq: boolean;
  reason: string | null;
  finished_at: number | null;
  node_id: string | null;
  devices: number[];
  started_at: number | null;
}
type AppliedRow = { id: number; job_id: number; number: number };

/**
 * The positions of the first report of each attempt; a repeat in the same call is refused, as it would be
 * one call later (the first made the attempt no longer `assigned`, or no longer live).
 */
function firstPerAttempt(reports: { attemptId: number }[]): number[] {
  const seen = new Set<number>();
  return reports.flatMap((r, i) => (seen.has(r.attemptId) ? [] : (seen.add(r.attemptId), [i])));
}

/** The results in report order: the accepted ones given, every other report refused. */
function resultsInOrder(reports: { attemptId: number }[], accepted: Map<number, ReportResult>): ReportResult[] {
  return reports.map((r, i) => accepted.get(i) ?? { attemptId: r.attemptId, accepted: false });
}

/** In a write transaction. */
export async function markRunning(sql: Sql, reports: StartReport[], now: number): Promise<ReportResult[]> {
  if (reports.length === 0) return [];
  const first = firstPerAttempt(reports).map((i) => ({ i, r: reports[i]! }));
  const ids = first.map(({ r }) => r.attemptId);
  const jobs = new Map((await sql.query<LockedJobRow>(LOCK_JOBS_OF_ATTEMPTS, [ids])).map((j) => [j.id, j]));
  const started = new Map(
    (await sql.query<AppliedRow>(START_ATTEMPTS, [ids, first.map(({ r }) => r.pid), first.map(({ r }) => r.logPath), first.map(({ r }) => r.startedAt)])).map((a) => [a.id, a]),
  );
  const starts: { id: number; startedAt: number }[] = [];
  const events = new EventBatch();
  const results = new Map<number, ReportResult>();
  for (const { i, r } of first) {
    const a = started.get(r.attemptId);
    if (!a) continue;
    const state = jobs.get(a.job_id)?.state as JobState;
    // A job cancelled while its attempt was starting stays cancelled; only the attempt's start is recorded.
    if (state !== 'assigned') {
      results.set(i, { attemptId: r.attemptId, accepted: true, jobState: state });
      continue;
    }
    starts.push({ id: a.job_id, startedAt: r.startedAt });
    events.add(a.job_id, a.number, 'assigned', 'running', now, null);
    results.set(i, { attemptId: r.attemptId, accepted: true, jobState: 'running' });
  }
  if (starts.length > 0) await sql.query(WRITE_JOBS_STARTED, [starts.map((s) => s.id), starts.map((s) => s.startedAt), now, ...events.params()]);
  return resultsInOrder(reports, results);
}

/**
 * In a write transaction: ends the attempts, then applies each job's retry decision. The decisions are
 * made in between, from the jobs' locked rows, so the final columns of each job are computed here and
 * written in one statement.
 */
export async function endAttempts(sql: Sql, reports: EndReport[], decide: DecideFn, now: number): Promise<ReportResult[]> {
  if (reports.length === 0) return [];
  const first = firstPerAttempt(reports).map((i) => ({ i, r: reports[i]! }));
  const col = <T>(f: (r: EndReport) => T): T[] => first.map(({ r }) => f(r));
  const jobs = new Map((await sql.query<LockedJobRow>(LOCK_JOBS_OF_ATTEMPTS, [col((r) => r.attemptId)])).map((j) => [j.id, j]));
  const ended = new Map(
    (
      await sql.query<AppliedRow>(END_ATTEMPTS, [
        col((r) => r.attemptId), col((r) => r.end.state), col((r) => r.exitCode), col((r) => r.signal), col((r) => r.end.reason),
        col((r) => r.endedAt), col((r) => r.startedAt ?? null), col((r) => r.pid ?? null), col((r) => r.logPath ?? null),
        ...outputColumns(first.map(({ r }) => r)),
        ...usageColumns(first.map(({ r }) => r)),
      ])
    ).map((a) => [a.id, a]),
  );

  const changed = new Map<number, LockedJobRow>();
  const events = new EventBatch();
  const results = new Map<number, ReportResult>();
  /** What the jobs waiting for these need to hear: which succeeded (told in the write below), which ended failed or cancelled. */
  const succeededJobs: number[] = [];
  const endedBadly: EndedJob[] = [];
  /** Which report ended each of them: its result lists the dependents failed with it. */
  const endedBy = new Map<number, number>();
  for (const { i, r } of first) {
    const a = ended.get(r.attemptId);
    if (!a) continue;
    const locked = jobs.get(a.job_id);
    if (!locked) throw new Error(`attempt ${r.attemptId} belongs to job ${a.job_id}, which does not exist`);
    // A job has one live attempt (attempts_one_live_per_job), so it is decided at most once per call; starting
    // from `changed` keeps each decision on the job's latest columns even so.
    const job = changed.get(locked.id) ?? { ...locked };
    if (r.startedAt !== undefined && job.state === 'assigned') {
      job.state = 'running';
      job.started_at ??= r.startedAt;
      events.add(a.job_id, a.number, 'assigned', 'running', r.startedAt, null);
      changed.set(job.id, job);
    }
    const from = job.state as JobState;
    const decision = decide(
      {
        state: from,
        attempts: job.attempts,
        attemptLimit: job.attempt_limit,
        backoff: { initialSeconds: job.backoff_initial_s, maxSeconds: job.backoff_max_s, multiplier: job.backoff_multiplier },
      },
      r.end,
    );
    if (decision.state !== null) {
      const to = decision.state;
      job.state = to;
      if (to === 'queued') job.not_before = decision.notBefore ?? now;
      job.in_dlq = decision.toDlq;
      job.reason = decision.reason;
      job.finished_at = isTerminal(to) ? now : null;
      if (!isLive(to)) {
        job.node_id = null;
        job.devices = [];
      }
      events.add(a.job_id, a.number, from, to, now, decision.reason);
      changed.set(job.id, job);
      if (to === 'succeeded') succeededJobs.push(job.id);
      else if (to === 'failed' || to === 'cancelled') {
        endedBadly.push({ id: job.id, state: to, reason: decision.reason });
        endedBy.set(job.id, i);
      }
    }
    results.set(i, { attemptId: r.attemptId, accepted: true, jobState: job.state as JobState });
  }
  if (changed.size > 0) {
    const rows = [...changed.values()];
    const jcol = <T>(f: (j: LockedJobRow) => T): T[] => rows.map(f);
    await sql.query(WRITE_JOBS_AFTER_END, [
      jcol((j) => j.id), jcol((j) => j.state), jcol((j) => j.started_at), jcol((j) => j.not_before), jcol((j) => j.in_dlq), jcol((j) => j.reason),
      jcol((j) => j.finished_at), jcol((j) => j.node_id), jcol((j) => JSON.stringify(j.devices)), now, ...events.params(), succeededJobs,
    ]);
  }
  // The jobs waiting for those that ended failed or cancelled fail with them, in this transaction.
  for (const f of await deps.failDependents(sql, endedBadly, now)) {
    const res = results.get(endedBy.get(f.root)!)!;
    (res.dependentsFailed ??= []).push({ id: f.id, queue: f.queue });
  }
  return resultsInOrder(reports, results);
}

/** One statement, on its own. */
export async function renewLeases(sql: Sql, nodeId: string, attemptIds: number[], expiresAt: number): Promise<number[]> {
  if (attemptIds.length === 0) return [];
  const live = new Set((await sql.query<{ id: number }>(RENEW_LEASES, [expiresAt, attemptIds, nodeId])).map((r) => r.id));
  return [...new Set(attemptIds)].filter((id) => live.has(id));
}

export async function listLiveAttempts(sql: Sql, nodeId?: string): Promise<Attempt[]> {
  const rows = nodeId === undefined ? await sql.query<AttemptRow>(SELECT_LIVE) : await sql.query<AttemptRow>(SELECT_LIVE_ON_NODE, [nodeId]);
  return rows.map(attemptFromRow);
}

export async function listAssignedAttempts(sql: Sql, nodeId: string): Promise<AssignedAttempt[]> {
  const rows = await sql.query<{ id: number; job_id: number; number: number; node_id: string; devices: number[]; lease_expires_at: number; spec: JobSpec; created_at: number }>(SELECT_ASSIGNED_ON_NODE, [nodeId]);
  return rows.map((r) => ({ attemptId: r.id, jobId: r.job_id, number: r.number, nodeId: r.node_id, devices: r.devices, spec: r.spec, jobCreatedAt: r.created_at, leaseExpiresAt: r.lease_expires_at }));
}

export async function attemptOrigins(sql: Sql, attemptIds: number[]): Promise<AttemptOrigin[]> {
  if (attemptIds.length === 0) return [];
  const rows = await sql.query<{ id: number; number: number; started_at: number | null; queue: string; created_at: number }>(SELECT_ORIGINS, [attemptIds]);
  return rows.map((r) => ({ attemptId: r.id, queue: r.queue, number: r.number, jobCreatedAt: r.created_at, startedAt: r.started_at }));
}

export async function listExpiredAttempts(sql: Sql, now: number): Promise<Attempt[]> {
  return (await sql.query<AttemptRow>(SELECT_EXPIRED, [now])).map(attemptFromRow);
}
