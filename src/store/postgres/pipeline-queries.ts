import type { JobOwner } from '../../core/access.js';
import { ClaimTakenError, FireTakenError, PipelineExistsError } from '../../core/errors.js';
import { jobsAfter, type PipelineRun, type PipelineRunDetail, type PlannedUnit, type PublishedFile } from '../../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../../core/pipeline-spec.js';
import { byRun, pipelineFromRow, RUN_COLUMNS, runFromRow, runJobFromRow, runOwner, runTaskFromRow, type PipelineRow, type RunJobRow, type RunRow, type RunTaskRow } from '../pipeline-row.js';
import type { Sql } from './postgres-pool.js';
import * as jobs from './job-queries.js';
import { submitTasks } from './pool-task-queries.js';
import { takeFire } from './schedule-queries.js';
import { takeClaim } from './trigger-queries.js';

/**
 * Pipelines (store/pipeline-store.ts, migrations 0015 and 0019) on PostgreSQL. Each function runs in the transaction the
 * caller opened (postgres-store.ts), or, where it is one statement, on its own. A run's creation holds its
 * pipeline's row FOR SHARE, so a delete waits for it (the run keeps the spec it read either way).
 */

/** Parameters: name, spec, created_at. */
const INSERT_PIPELINE = `INSERT INTO pipelines (name, spec, created_at) VALUES ($1, $2::json, $3) ON CONFLICT (name) DO NOTHING RETURNING name, spec, created_at`;
const SHARE_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = $1 FOR SHARE`;
const SELECT_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = $1`;
const SELECT_PIPELINES = `SELECT name, spec, created_at FROM pipelines ORDER BY name`;
/** Nothing when a run has the key (another server stored it since the look). Parameters: pipeline, spec, run_dir, inputs, owner, owner_token_id, idempotency_key, source, created_at. */
const INSERT_RUN = `INSERT INTO pipeline_runs (pipeline, spec, state, run_dir, inputs, owner, owner_token_id, idempotency_key, source, created_at) VALUES ($1, $2::json, 'running', $3, $4::json, $5, $6, $7, $8, $9)
  ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING ${RUN_COLUMNS}`;
const SELECT_RUN_BY_KEY = `SELECT id FROM pipeline_runs WHERE idempotency_key = $1`;
/** Locks the run while units are added to it. */
const LOCK_RUNNING_RUN = `SELECT owner, owner_token_id FROM pipeline_runs WHERE id = $1 AND state = 'running' FOR UPDATE`;
/** Parameters: run_id, steps int[], lanes int[], job_ids bigint[]. */
const INSERT_RUN_JOBS = `INSERT INTO pipeline_run_jobs (run_id, step, lane, job_id) SELECT $1, s, l, j FROM unnest($2::int[], $3::int[], $4::bigint[]) AS t(s, l, j) ON CONFLICT DO NOTHING`;
/** Parameters: run_id, step, lane, pool, task_id. */
const INSERT_RUN_TASK = `INSERT INTO pipeline_run_tasks (run_id, step, lane, pool, task_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`;
const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE id = $1`;
/** Parameters: pipeline (null: any), before, limit. */
const SELECT_RUNS = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE ($1::text IS NULL OR pipeline = $1) AND id < $2 ORDER BY id DESC LIMIT $3`;
const SELECT_RUNNING = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE state = 'running' ORDER BY id`;
const COUNT_RUNNING = `SELECT pipeline, count(*)::int AS n FROM pipeline_runs WHERE state = 'running' GROUP BY pipeline`;
const RUN_JOBS = `SELECT rj.run_id, rj.step, rj.lane, rj.job_id, j.state, j.reason FROM pipeline_run_jobs rj JOIN jobs j ON j.id = rj.job_id`;
const SELECT_RUN_JOBS = `${RUN_JOBS} WHERE rj.run_id = $1 ORDER BY rj.step, rj.lane`;
const SELECT_RUNNING_JOBS = `${RUN_JOBS} WHERE rj.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rj.run_id, rj.step, rj.lane`;
/** A task gone with its pool reads with a null state. */
const RUN_TASKS = `SELECT rt.run_id, rt.step, rt.lane, rt.pool, rt.task_id, t.state, t.error FROM pipeline_run_tasks rt LEFT JOIN pool_tasks t ON t.id = rt.task_id`;
const SELECT_RUN_TASKS = `${RUN_TASKS} WHERE rt.run_id = $1 ORDER BY rt.step, rt.lane`;
const SELECT_RUNNING_TASKS = `${RUN_TASKS} WHERE rt.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rt.run_id, rt.step, rt.lane`;
/** Sets the outputs once and answers those recorded (the first choice). Parameters: id, outputs. */
const CHOOSE_OUTPUTS = `WITH chosen AS (UPDATE pipeline_runs SET outputs = $2::json WHERE id = $1 AND outputs IS NULL RETURNING outputs)
  SELECT outputs FROM chosen UNION ALL SELECT outputs FROM pipeline_runs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM chosen)`;
/** Parameters: before, limit. */
const SELECT_ENDED_BEFORE = `SELECT id, run_dir FROM pipeline_runs WHERE state <> 'running' AND ended_at < $1 ORDER BY ended_at, id LIMIT $2`;
/** The rows of pipeline_run_jobs and pipeline_run_tasks go with them (ON DELETE CASCADE). Parameters: ids. */
const DELETE_ENDED = `DELETE FROM pipeline_runs WHERE id = ANY($1::bigint[]) AND state <> 'running'`;
/** Parameters: id, state, reason, on_failure_job_id, ended_at. */
const END_RUN = `UPDATE pipeline_runs SET state = $2, reason = $3, on_failure_job_id = $4, ended_at = $5 WHERE id = $1 AND state = 'running'`;


export async function createPipeline(sql: Sql, spec: PipelineSpec, now: number): Promise<Pipeline> {
  const [row] = await sql.query<PipelineRow>(INSERT_PIPELINE, [spec.name, JSON.stringify(spec), now]);
  if (!row) throw new PipelineExistsError(spec.name);
  return pipelineFromRow(row);
}

export async function deletePipeline(sql: Sql, name: string): Promise<boolean> {
  return (await sql.execute(`DELETE FROM pipelines WHERE name = $1`, [name])) > 0;
}

export async function getPipeline(sql: Sql, name: string): Promise<Pipeline | null> {
  const [row] = await sql.query<PipelineRow>(SELECT_PIPELINE, [name]);
  return row ? pipelineFromRow(row) : null;
}

export async function listPipelines(sql: Sql): Promise<Pipeline[]> {
  return (await sql.query<PipelineRow>(SELECT_PIPELINES)).map(pipelineFromRow);
}

export async function getPipelineRun(sql: Sql, id: number): Promise<PipelineRunDetail | null> {
  const [row] = await sql.query<RunRow>(SELECT_RUN, [id]);
  if (!row) return null;
  const [jobRows, taskRows] = [await sql.query<RunJobRow>(SELECT_RUN_JOBS, [id]), await sql.query<RunTaskRow>(SELECT_RUN_TASKS, [id])];
  return { ...runFromRow(row), jobs: jobRows.map(runJobFromRow), tasks: taskRows.map(runTaskFromRow) };
}

/**
 * Creates a run's units not created yet, step by step: jobs in one submit per step (each `after` a job of the
 * run, by id), tasks per pool (keyed by run, step and lane); each recorded as its step and lane's.
 */
async function createUnits(sql: Sql, runId: number, units: readonly PlannedUnit[], now: number, owner: JobOwner | null): Promise<void> {
  const ids = new Map((await sql.query<RunJobRow>(SELECT_RUN_JOBS, [runId])).map((j) => [`${j.step}/${j.lane}`, j.job_id]));
  const runTasks = (await sql.query<RunTaskRow>(SELECT_RUN_TASKS, [runId])).map((t) => `${t.step}/${t.lane}`);
  const taken = new Set([...ids.keys(), ...runTasks]);
  const fresh = units.filter((u) => !taken.has(`${u.step}/${u.lane}`));
  const taskKeys = new Set([...runTasks, ...fresh.flatMap((u) => (u.kind === 'task' ? [`${u.step}/${u.lane}`] : []))]);
  for (const step of [...new Set(fresh.map((u) => u.step))].sort((a, b) => a - b)) {
    const ofStep = fresh.filter((u) => u.step === step);
    const jobUnits = ofStep.flatMap((u) => (u.kind === 'job' ? [u] : []));
    if (jobUnits.length > 0) {
      const out = await jobs.submitJobs(sql, jobUnits.map((u) => ({ ...u.spec, dependsOn: jobsAfter(u, ids, taskKeys) })), now, owner);
      jobUnits.forEach((u, i) => ids.set(`${u.step}/${u.lane}`, out[i]!.job.id));
      await sql.execute(INSERT_RUN_JOBS, [runId, jobUnits.map((u) => u.step), jobUnits.map((u) => u.lane), out.map((o) => o.job.id)]);
    }
    for (const u of ofStep) {
      if (u.kind !== 'task') continue;
      const [t] = await submitTasks(sql, u.pool, [{ payloadJson: JSON.stringify(u.payload), idempotencyKey: u.idempotencyKey }], now, owner);
      await sql.execute(INSERT_RUN_TASK, [runId, u.step, u.lane, u.pool, t!.task.id]);
    }
  }
}

export async function createPipelineRun(
  sql: Sql,
  run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number }; idempotencyKey?: string; source?: string },
  plan: (runId: number, spec: PipelineSpec) => PlannedUnit[],
  now: number,
  owner: JobOwner | null,
): Promise<PipelineRunDetail | null> {
  const existing = async () => {
    const [known] = run.idempotencyKey === undefined ? [] : await sql.query<{ id: number }>(SELECT_RUN_BY_KEY, [run.idempotencyKey]);
    return known ? getPipelineRun(sql, known.id) : null;
  };
  const before = await existing();
  if (before) return before;
  const [pipeline] = await sql.query<PipelineRow>(SHARE_PIPELINE, [run.pipeline]);
  if (!pipeline) return null;
  const [row] = await sql.query<RunRow>(INSERT_RUN, [run.pipeline, JSON.stringify(pipeline.spec), run.runDir, JSON.stringify(run.inputs), owner?.name ?? null, owner?.tokenId ?? null, run.idempotencyKey ?? null, run.source ?? null, now]);
  if (!row) return existing();
  // Throwing rolls the whole run back (the transaction is postgres-store.ts's).
  if (run.claim !== undefined && !(await takeClaim(sql, run.claim, row.id))) throw new ClaimTakenError(run.claim);
  if (run.fire !== undefined && !(await takeFire(sql, run.fire.schedule, run.fire.at, row.id))) throw new FireTakenError(run.fire.schedule, run.fire.at);
  await createUnits(sql, row.id, plan(row.id, pipelineFromRow(pipeline).spec), now, owner);
  return getPipelineRun(sql, row.id);
}

export async function advancePipelineRun(sql: Sql, id: number, units: PlannedUnit[], now: number): Promise<PipelineRunDetail | null> {
  const [run] = await sql.query<{ owner: string | null; owner_token_id: string | null }>(LOCK_RUNNING_RUN, [id]);
  if (!run) return null;
  await createUnits(sql, id, units, now, runOwner(run.owner, run.owner_token_id));
  return getPipelineRun(sql, id);
}

export async function listPipelineRuns(sql: Sql, filter: { pipeline?: string; before?: number; limit: number }): Promise<PipelineRun[]> {
  return (await sql.query<RunRow>(SELECT_RUNS, [filter.pipeline ?? null, filter.before ?? Number.MAX_SAFE_INTEGER, filter.limit])).map(runFromRow);
}

export async function runningPipelineRuns(sql: Sql): Promise<PipelineRunDetail[]> {
  const [runs, jobRows, taskRows] = [await sql.query<RunRow>(SELECT_RUNNING), await sql.query<RunJobRow>(SELECT_RUNNING_JOBS), await sql.query<RunTaskRow>(SELECT_RUNNING_TASKS)];
  const jobsOf = byRun(jobRows, runJobFromRow);
  const tasksOf = byRun(taskRows, runTaskFromRow);
  return runs.map((r) => ({ ...runFromRow(r), jobs: jobsOf.get(r.id) ?? [], tasks: tasksOf.get(r.id) ?? [] }));
}

export async function choosePipelineOutputs(sql: Sql, id: number, outputs: PublishedFile[]): Promise<PublishedFile[]> {
  const [row] = await sql.query<{ outputs: PublishedFile[] | null }>(CHOOSE_OUTPUTS, [id, JSON.stringify(outputs)]);
  return row?.outputs ?? [];
}

export async function endPipelineRun(sql: Sql, id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): Promise<boolean> {
  return (await sql.execute(END_RUN, [id, end.state, end.reason, end.onFailureJobId, now])) > 0;
}

export async function endedPipelineRunsBefore(sql: Sql, before: number, limit: number): Promise<{ id: number; runDir: string }[]> {
  return (await sql.query<{ id: number; run_dir: string }>(SELECT_ENDED_BEFORE, [before, limit])).map((r) => ({ id: Number(r.id), runDir: r.run_dir }));
}

export async function deletePipelineRuns(sql: Sql, ids: number[]): Promise<number> {
  return sql.execute(DELETE_ENDED, [ids]);
}

export async function countRunningPipelineRuns(sql: Sql): Promise<Record<string, number>> {
  return Object.fromEntries((await sql.query<{ pipeline: string; n: number }>(COUNT_RUNNING)).map((r) => [r.pipeline, r.n]));
}
