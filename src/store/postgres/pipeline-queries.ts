import type { JobOwner } from '../../core/access.js';
import { ClaimTakenError, FireTakenError, PipelineExistsError } from '../../core/errors.js';
import type { PipelineRun, PipelineRunDetail, PlannedJob, PublishedFile, RunJobState } from '../../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../../core/pipeline-spec.js';
import type { JobState } from '../../core/types.js';
import type { Sql } from './postgres-pool.js';
import * as jobs from './job-queries.js';
import { takeFire } from './schedule-queries.js';
import { takeClaim } from './trigger-queries.js';

/**
 * Pipelines (store/pipeline-store.ts, migration 0015) on PostgreSQL. Each function runs in the transaction the
 * caller opened (postgres-store.ts), or, where it is one statement, on its own. A run's creation holds its
 * pipeline's row FOR SHARE, so a delete waits for it (the run keeps the spec it read either way).
 */

interface PipelineRow {
  name: string;
  spec: PipelineSpec;
  created_at: number;
}
interface RunRow {
  id: number;
  pipeline: string;
  spec: PipelineSpec;
  state: string;
  run_dir: string;
  inputs: string[];
  owner: string | null;
  reason: string | null;
  outputs: PublishedFile[] | null;
  on_failure_job_id: number | null;
  created_at: number;
  ended_at: number | null;
}
interface RunJobRow {
  run_id: number;
  step: number;
  lane: number;
  job_id: number;
  state: string;
  reason: string | null;
}

const RUN_COLUMNS = `id, pipeline, spec, state, run_dir, inputs, owner, reason, outputs, on_failure_job_id, created_at, ended_at`;
/** Parameters: name, spec, created_at. */
const INSERT_PIPELINE = `INSERT INTO pipelines (name, spec, created_at) VALUES ($1, $2::json, $3) ON CONFLICT (name) DO NOTHING RETURNING name, spec, created_at`;
const SHARE_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = $1 FOR SHARE`;
const SELECT_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = $1`;
const SELECT_PIPELINES = `SELECT name, spec, created_at FROM pipelines ORDER BY name`;
/** Parameters: pipeline, spec, run_dir, inputs, owner, created_at. */
const INSERT_RUN = `INSERT INTO pipeline_runs (pipeline, spec, state, run_dir, inputs, owner, created_at) VALUES ($1, $2::json, 'running', $3, $4::json, $5, $6) RETURNING ${RUN_COLUMNS}`;
/** Parameters: run_id, steps int[], lanes int[], job_ids bigint[]. */
const INSERT_RUN_JOBS = `INSERT INTO pipeline_run_jobs (run_id, step, lane, job_id) SELECT $1, s, l, j FROM unnest($2::int[], $3::int[], $4::bigint[]) AS t(s, l, j)`;
const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE id = $1`;
/** Parameters: pipeline (null: any), before, limit. */
const SELECT_RUNS = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE ($1::text IS NULL OR pipeline = $1) AND id < $2 ORDER BY id DESC LIMIT $3`;
const SELECT_RUNNING = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE state = 'running' ORDER BY id`;
const RUN_JOBS = `SELECT rj.run_id, rj.step, rj.lane, rj.job_id, j.state, j.reason FROM pipeline_run_jobs rj JOIN jobs j ON j.id = rj.job_id`;
const SELECT_RUN_JOBS = `${RUN_JOBS} WHERE rj.run_id = $1 ORDER BY rj.step, rj.lane`;
const SELECT_RUNNING_JOBS = `${RUN_JOBS} WHERE rj.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rj.run_id, rj.step, rj.lane`;
/** Sets the outputs once and answers those recorded (the first choice). Parameters: id, outputs. */
const CHOOSE_OUTPUTS = `WITH chosen AS (UPDATE pipeline_runs SET outputs = $2::json WHERE id = $1 AND outputs IS NULL RETURNING outputs)
  SELECT outputs FROM chosen UNION ALL SELECT outputs FROM pipeline_runs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM chosen)`;
/** Parameters: id, state, reason, on_failure_job_id, ended_at. */
const END_RUN = `UPDATE pipeline_runs SET state = $2, reason = $3, on_failure_job_id = $4, ended_at = $5 WHERE id = $1 AND state = 'running'`;

const pipelineFromRow = (r: PipelineRow): Pipeline => ({ name: r.name, spec: r.spec, createdAt: r.created_at });

function runFromRow(r: RunRow): PipelineRun {
  return {
    id: r.id,
    pipeline: r.pipeline,
    spec: r.spec,
    state: r.state as PipelineRun['state'],
    runDir: r.run_dir,
    inputs: r.inputs,
    owner: r.owner,
    reason: r.reason,
    outputs: r.outputs,
    onFailureJobId: r.on_failure_job_id,
    createdAt: r.created_at,
    endedAt: r.ended_at,
  };
}

const runJobFromRow = (r: RunJobRow): RunJobState => ({ step: r.step, lane: r.lane, jobId: r.job_id, state: r.state as JobState, reason: r.reason });

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
  return { ...runFromRow(row), jobs: (await sql.query<RunJobRow>(SELECT_RUN_JOBS, [id])).map(runJobFromRow) };
}

export async function createPipelineRun(
  sql: Sql,
  run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number } },
  plan: (runId: number, spec: PipelineSpec) => PlannedJob[],
  now: number,
  owner: JobOwner | null,
): Promise<PipelineRunDetail | null> {
  const [pipeline] = await sql.query<PipelineRow>(SHARE_PIPELINE, [run.pipeline]);
  if (!pipeline) return null;
  const [row] = await sql.query<RunRow>(INSERT_RUN, [run.pipeline, JSON.stringify(pipeline.spec), run.runDir, JSON.stringify(run.inputs), owner?.name ?? null, now]);
  // Throwing rolls the whole run back (the transaction is postgres-store.ts's).
  if (run.claim !== undefined && !(await takeClaim(sql, run.claim, row!.id))) throw new ClaimTakenError(run.claim);
  if (run.fire !== undefined && !(await takeFire(sql, run.fire.schedule, run.fire.at, row!.id))) throw new FireTakenError(run.fire.schedule, run.fire.at);
  const planned = plan(row!.id, pipeline.spec);
  const ids = new Map<string, number>();
  // One submit per step: a step's jobs depend only on jobs of the steps before it.
  for (let step = 0; planned.some((p) => p.step === step); step++) {
    const ofStep = planned.filter((p) => p.step === step);
    const out = await jobs.submitJobs(sql, ofStep.map((p) => ({ ...p.spec, dependsOn: p.after.map((a) => ids.get(`${a.step}/${a.lane}`)!) })), now, owner);
    ofStep.forEach((p, i) => ids.set(`${p.step}/${p.lane}`, out[i]!.job.id));
  }
  await sql.execute(INSERT_RUN_JOBS, [row!.id, planned.map((p) => p.step), planned.map((p) => p.lane), planned.map((p) => ids.get(`${p.step}/${p.lane}`)!)]);
  return getPipelineRun(sql, row!.id);
}

export async function listPipelineRuns(sql: Sql, filter: { pipeline?: string; before?: number; limit: number }): Promise<PipelineRun[]> {
  return (await sql.query<RunRow>(SELECT_RUNS, [filter.pipeline ?? null, filter.before ?? Number.MAX_SAFE_INTEGER, filter.limit])).map(runFromRow);
}

export async function runningPipelineRuns(sql: Sql): Promise<PipelineRunDetail[]> {
  const [runs, jobRows] = [await sql.query<RunRow>(SELECT_RUNNING), await sql.query<RunJobRow>(SELECT_RUNNING_JOBS)];
  const byRun = new Map<number, RunJobState[]>();
  for (const j of jobRows) byRun.set(j.run_id, [...(byRun.get(j.run_id) ?? []), runJobFromRow(j)]);
  return runs.map((r) => ({ ...runFromRow(r), jobs: byRun.get(r.id) ?? [] }));
}

export async function choosePipelineOutputs(sql: Sql, id: number, outputs: PublishedFile[]): Promise<PublishedFile[]> {
  const [row] = await sql.query<{ outputs: PublishedFile[] | null }>(CHOOSE_OUTPUTS, [id, JSON.stringify(outputs)]);
  return row?.outputs ?? [];
}

export async function endPipelineRun(sql: Sql, id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): Promise<boolean> {
  return (await sql.execute(END_RUN, [id, end.state, end.reason, end.onFailureJobId, now])) > 0;
}
