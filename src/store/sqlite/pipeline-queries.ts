import type { Database } from 'better-sqlite3';
import type { JobOwner } from '../../core/access.js';
import { ClaimTakenError, FireTakenError, PipelineExistsError } from '../../core/errors.js';
import type { PipelineRun, PipelineRunDetail, PlannedJob, PublishedFile, RunJobState } from '../../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../../core/pipeline-spec.js';
import type { JobState } from '../../core/types.js';
import type { JobQueries } from './job-queries.js';

/**
 * Pipelines (store/pipeline-store.ts, migration 0015) on SQLite. Functions here run inside the transaction the
 * caller opened (sqlite-store.ts).
 */

interface PipelineRow {
  name: string;
  spec: string;
  created_at: number;
}
interface RunRow {
  id: number;
  pipeline: string;
  spec: string;
  state: string;
  run_dir: string;
  inputs: string;
  owner: string | null;
  reason: string | null;
  outputs: string | null;
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
const INSERT_PIPELINE = `INSERT INTO pipelines (name, spec, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name, spec, created_at`;
const DELETE_PIPELINE = `DELETE FROM pipelines WHERE name = ?`;
const SELECT_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = ?`;
const SELECT_PIPELINES = `SELECT name, spec, created_at FROM pipelines ORDER BY name`;
/** Parameters: pipeline, spec, run_dir, inputs, owner, created_at. */
const INSERT_RUN = `INSERT INTO pipeline_runs (pipeline, spec, state, run_dir, inputs, owner, created_at) VALUES (?, ?, 'running', ?, ?, ?, ?) RETURNING ${RUN_COLUMNS}`;
/** Parameters: run_id, step, lane, job_id. */
const INSERT_RUN_JOB = `INSERT INTO pipeline_run_jobs (run_id, step, lane, job_id) VALUES (?, ?, ?, ?)`;
const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE id = ?`;
/** Parameters: pipeline (null: any), before, limit. */
const SELECT_RUNS = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE (@pipeline IS NULL OR pipeline = @pipeline) AND id < @before ORDER BY id DESC LIMIT @limit`;
const SELECT_RUNNING = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE state = 'running' ORDER BY id`;
const RUN_JOBS = `SELECT rj.run_id, rj.step, rj.lane, rj.job_id, j.state, j.reason FROM pipeline_run_jobs rj JOIN jobs j ON j.id = rj.job_id`;
const SELECT_RUN_JOBS = `${RUN_JOBS} WHERE rj.run_id = ? ORDER BY rj.step, rj.lane`;
const SELECT_RUNNING_JOBS = `${RUN_JOBS} WHERE rj.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rj.run_id, rj.step, rj.lane`;
/** Parameters: outputs, id. */
const SET_OUTPUTS = `UPDATE pipeline_runs SET outputs = ? WHERE id = ? AND outputs IS NULL`;
/** Parameters: state, reason, on_failure_job_id, ended_at, id. */
const END_RUN = `UPDATE pipeline_runs SET state = ?, reason = ?, on_failure_job_id = ?, ended_at = ? WHERE id = ? AND state = 'running'`;

function pipelineFromRow(r: PipelineRow): Pipeline {
  return { name: r.name, spec: JSON.parse(r.spec) as PipelineSpec, createdAt: r.created_at };
}

function runFromRow(r: RunRow): PipelineRun {
  return {
    id: r.id,
    pipeline: r.pipeline,
    spec: JSON.parse(r.spec) as PipelineSpec,
    state: r.state as PipelineRun['state'],
    runDir: r.run_dir,
    inputs: JSON.parse(r.inputs) as string[],
    owner: r.owner,
    reason: r.reason,
    outputs: r.outputs === null ? null : (JSON.parse(r.outputs) as PublishedFile[]),
    onFailureJobId: r.on_failure_job_id,
    createdAt: r.created_at,
    endedAt: r.ended_at,
  };
}

const runJobFromRow = (r: RunJobRow): RunJobState => ({ step: r.step, lane: r.lane, jobId: r.job_id, state: r.state as JobState, reason: r.reason });

export type PipelineQueries = ReturnType<typeof preparePipelineQueries>;

export function preparePipelineQueries(db: Database, jobs: JobQueries) {
  const insertPipeline = db.prepare<[string, string, number], PipelineRow>(INSERT_PIPELINE);
  const deletePipelineStmt = db.prepare<[string]>(DELETE_PIPELINE);
  const selectPipeline = db.prepare<[string], PipelineRow>(SELECT_PIPELINE);
  const selectPipelines = db.prepare<[], PipelineRow>(SELECT_PIPELINES);
  const insertRun = db.prepare<[string, string, string, string, string | null, number], RunRow>(INSERT_RUN);
  const insertRunJob = db.prepare<[number, number, number, number]>(INSERT_RUN_JOB);
  const selectRun = db.prepare<[number], RunRow>(SELECT_RUN);
  const selectRuns = db.prepare<[{ pipeline: string | null; before: number; limit: number }], RunRow>(SELECT_RUNS);
  const selectRunning = db.prepare<[], RunRow>(SELECT_RUNNING);
  const selectRunJobs = db.prepare<[number], RunJobRow>(SELECT_RUN_JOBS);
  const selectRunningJobs = db.prepare<[], RunJobRow>(SELECT_RUNNING_JOBS);
  const setOutputs = db.prepare<[string, number]>(SET_OUTPUTS);
  const takeClaim = db.prepare<[number, number]>(`UPDATE trigger_claims SET run_id = ? WHERE id = ? AND run_id IS NULL`);
  const takeFire = db.prepare<[string, number, number]>(`INSERT INTO schedule_fires (schedule, fire_at, run_id) VALUES (?, ?, ?) ON CONFLICT (schedule, fire_at) DO NOTHING`);
  const endRun = db.prepare<[string, string | null, number | null, number, number]>(END_RUN);

  function createPipeline(spec: PipelineSpec, now: number): Pipeline {
    const row = insertPipeline.get(spec.name, JSON.stringify(spec), now);
    if (!row) throw new PipelineExistsError(spec.name);
    return pipelineFromRow(row);
  }

  function getPipelineRun(id: number): PipelineRunDetail | null {
    const row = selectRun.get(id);
    return row ? { ...runFromRow(row), jobs: selectRunJobs.all(id).map(runJobFromRow) } : null;
  }

  function createPipelineRun(
    run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number } },
    plan: (runId: number, spec: PipelineSpec) => PlannedJob[],
    now: number,
    owner: JobOwner | null,
  ): PipelineRunDetail | null {
    const pipeline = selectPipeline.get(run.pipeline);
    if (!pipeline) return null;
    const row = insertRun.get(run.pipeline, pipeline.spec, run.runDir, JSON.stringify(run.inputs), owner?.name ?? null, now)!;
    // Throwing rolls the whole run back (the transaction is sqlite-store.ts's).
    if (run.claim !== undefined && takeClaim.run(row.id, run.claim).changes === 0) throw new ClaimTakenError(run.claim);
    if (run.fire !== undefined && takeFire.run(run.fire.schedule, run.fire.at, row.id).changes === 0) throw new FireTakenError(run.fire.schedule, run.fire.at);
    const planned = plan(row.id, JSON.parse(pipeline.spec) as PipelineSpec);
    const ids = new Map<string, number>();
    // One submit per step: a step's jobs depend only on jobs of the steps before it.
    for (let step = 0; planned.some((p) => p.step === step); step++) {
      const ofStep = planned.filter((p) => p.step === step);
      const out = jobs.submitJobs(ofStep.map((p) => ({ ...p.spec, dependsOn: p.after.map((a) => ids.get(`${a.step}/${a.lane}`)!) })), now, owner);
      ofStep.forEach((p, i) => {
        ids.set(`${p.step}/${p.lane}`, out[i]!.job.id);
        insertRunJob.run(row.id, p.step, p.lane, out[i]!.job.id);
      });
    }
    return getPipelineRun(row.id);
  }

  function runningPipelineRuns(): PipelineRunDetail[] {
    const byRun = new Map<number, RunJobState[]>();
    for (const j of selectRunningJobs.all()) {
      const list = byRun.get(j.run_id);
      if (list) list.push(runJobFromRow(j));
      else byRun.set(j.run_id, [runJobFromRow(j)]);
    }
    return selectRunning.all().map((r) => ({ ...runFromRow(r), jobs: byRun.get(r.id) ?? [] }));
  }

  function choosePipelineOutputs(id: number, outputs: PublishedFile[]): PublishedFile[] {
    setOutputs.run(JSON.stringify(outputs), id);
    const row = selectRun.get(id);
    return row?.outputs ? (JSON.parse(row.outputs) as PublishedFile[]) : [];
  }

  return {
    createPipeline,
    deletePipeline: (name: string): boolean => deletePipelineStmt.run(name).changes > 0,
    getPipeline: (name: string): Pipeline | null => {
      const row = selectPipeline.get(name);
      return row ? pipelineFromRow(row) : null;
    },
    listPipelines: (): Pipeline[] => selectPipelines.all().map(pipelineFromRow),
    createPipelineRun,
    getPipelineRun,
    listPipelineRuns: (filter: { pipeline?: string; before?: number; limit: number }): PipelineRun[] =>
      selectRuns.all({ pipeline: filter.pipeline ?? null, before: filter.before ?? Number.MAX_SAFE_INTEGER, limit: filter.limit }).map(runFromRow),
    runningPipelineRuns,
    choosePipelineOutputs,
    endPipelineRun: (id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): boolean =>
      endRun.run(end.state, end.reason, end.onFailureJobId, now, id).changes > 0,
  };
}
