import type { Database } from 'better-sqlite3';
import type { JobOwner } from '../../core/access.js';
import { ClaimTakenError, FireTakenError, PipelineExistsError } from '../../core/errors.js';
import { jobsAfter, type PipelineRun, type PipelineRunDetail, type PlannedUnit, type PublishedFile } from '../../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../../core/pipeline-spec.js';
import { byRun, pipelineFromRow, RUN_COLUMNS, runFromRow, runJobFromRow, runOwner, runTaskFromRow, type PipelineRow, type RunJobRow, type RunRow, type RunTaskRow } from '../pipeline-row.js';
import type { JobQueries } from './job-queries.js';
import type { PoolTaskQueries } from './pool-task-queries.js';

/**
 * Pipelines (store/pipeline-store.ts, migrations 0015 and 0019) on SQLite. Functions here run inside the transaction the
 * caller opened (sqlite-store.ts).
 */

/** Parameters: name, spec, created_at. */
const INSERT_PIPELINE = `INSERT INTO pipelines (name, spec, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING name, spec, created_at`;
const DELETE_PIPELINE = `DELETE FROM pipelines WHERE name = ?`;
const SELECT_PIPELINE = `SELECT name, spec, created_at FROM pipelines WHERE name = ?`;
const SELECT_PIPELINES = `SELECT name, spec, created_at FROM pipelines ORDER BY name`;
/** Parameters: pipeline, spec, run_dir, inputs, owner, owner_token_id, idempotency_key, source, created_at. */
const INSERT_RUN = `INSERT INTO pipeline_runs (pipeline, spec, state, run_dir, inputs, owner, owner_token_id, idempotency_key, source, created_at) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?) RETURNING ${RUN_COLUMNS}`;
const SELECT_RUN_BY_KEY = `SELECT id FROM pipeline_runs WHERE idempotency_key = ?`;
const SELECT_RUN_OWNER = `SELECT owner, owner_token_id FROM pipeline_runs WHERE id = ? AND state = 'running'`;
/** Parameters: run_id, step, lane, job_id. */
const INSERT_RUN_JOB = `INSERT INTO pipeline_run_jobs (run_id, step, lane, job_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`;
/** Parameters: run_id, step, lane, pool, task_id. */
const INSERT_RUN_TASK = `INSERT INTO pipeline_run_tasks (run_id, step, lane, pool, task_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`;
const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE id = ?`;
/** Parameters: pipeline (null: any), before, limit. */
const SELECT_RUNS = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE (@pipeline IS NULL OR pipeline = @pipeline) AND id < @before ORDER BY id DESC LIMIT @limit`;
const SELECT_RUNNING = `SELECT ${RUN_COLUMNS} FROM pipeline_runs WHERE state = 'running' ORDER BY id`;
const COUNT_RUNNING = `SELECT pipeline, count(*) AS n FROM pipeline_runs WHERE state = 'running' GROUP BY pipeline`;
const RUN_JOBS = `SELECT rj.run_id, rj.step, rj.lane, rj.job_id, j.state, j.reason FROM pipeline_run_jobs rj JOIN jobs j ON j.id = rj.job_id`;
const SELECT_RUN_JOBS = `${RUN_JOBS} WHERE rj.run_id = ? ORDER BY rj.step, rj.lane`;
const SELECT_RUNNING_JOBS = `${RUN_JOBS} WHERE rj.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rj.run_id, rj.step, rj.lane`;
/** A task gone with its pool reads with a null state. */
const RUN_TASKS = `SELECT rt.run_id, rt.step, rt.lane, rt.pool, rt.task_id, t.state, t.error FROM pipeline_run_tasks rt LEFT JOIN pool_tasks t ON t.id = rt.task_id`;
const SELECT_RUN_TASKS = `${RUN_TASKS} WHERE rt.run_id = ? ORDER BY rt.step, rt.lane`;
const SELECT_RUNNING_TASKS = `${RUN_TASKS} WHERE rt.run_id IN (SELECT id FROM pipeline_runs WHERE state = 'running') ORDER BY rt.run_id, rt.step, rt.lane`;
/** Parameters: outputs, id. */
const SET_OUTPUTS = `UPDATE pipeline_runs SET outputs = ? WHERE id = ? AND outputs IS NULL`;
/** Parameters: before, limit. */
const SELECT_ENDED_BEFORE = `SELECT id, run_dir FROM pipeline_runs WHERE state <> 'running' AND ended_at < ? ORDER BY ended_at, id LIMIT ?`;
/** The rows of pipeline_run_jobs and pipeline_run_tasks go with them (ON DELETE CASCADE). Parameters: ids (JSON array). */
const DELETE_ENDED = `DELETE FROM pipeline_runs WHERE id IN (SELECT value FROM json_each(?)) AND state <> 'running'`;
/** Parameters: state, reason, on_failure_job_id, ended_at, id. */
const END_RUN = `UPDATE pipeline_runs SET state = ?, reason = ?, on_failure_job_id = ?, ended_at = ? WHERE id = ? AND state = 'running'`;


export type PipelineQueries = ReturnType<typeof preparePipelineQueries>;

export function preparePipelineQueries(db: Database, jobs: JobQueries, tasks: PoolTaskQueries) {
  const insertPipeline = db.prepare<[string, string, number], PipelineRow>(INSERT_PIPELINE);
  const deletePipelineStmt = db.prepare<[string]>(DELETE_PIPELINE);
  const selectPipeline = db.prepare<[string], PipelineRow>(SELECT_PIPELINE);
  const selectPipelines = db.prepare<[], PipelineRow>(SELECT_PIPELINES);
  const insertRun = db.prepare<[string, string, string, string, string | null, string | null, string | null, string | null, number], RunRow>(INSERT_RUN);
  const selectRunByKey = db.prepare<[string], { id: number }>(SELECT_RUN_BY_KEY);
  const selectRunOwner = db.prepare<[number], { owner: string | null; owner_token_id: string | null }>(SELECT_RUN_OWNER);
  const insertRunJob = db.prepare<[number, number, number, number]>(INSERT_RUN_JOB);
  const insertRunTask = db.prepare<[number, number, number, string, number]>(INSERT_RUN_TASK);
  const selectRun = db.prepare<[number], RunRow>(SELECT_RUN);
  const selectRuns = db.prepare<[{ pipeline: string | null; before: number; limit: number }], RunRow>(SELECT_RUNS);
  const selectRunning = db.prepare<[], RunRow>(SELECT_RUNNING);
  const countRunning = db.prepare<[], { pipeline: string; n: number }>(COUNT_RUNNING);
  const selectRunJobs = db.prepare<[number], RunJobRow>(SELECT_RUN_JOBS);
  const selectRunningJobs = db.prepare<[], RunJobRow>(SELECT_RUNNING_JOBS);
  const selectRunTasks = db.prepare<[number], RunTaskRow>(SELECT_RUN_TASKS);
  const selectRunningTasks = db.prepare<[], RunTaskRow>(SELECT_RUNNING_TASKS);
  const setOutputs = db.prepare<[string, number]>(SET_OUTPUTS);
  const takeClaim = db.prepare<[number, number]>(`UPDATE trigger_claims SET run_id = ? WHERE id = ? AND run_id IS NULL`);
  const takeFire = db.prepare<[string, number, number]>(`INSERT INTO schedule_fires (schedule, fire_at, run_id) VALUES (?, ?, ?) ON CONFLICT (schedule, fire_at) DO NOTHING`);
  const endRun = db.prepare<[string, string | null, number | null, number, number]>(END_RUN);
  const selectEndedBefore = db.prepare<[number, number], { id: number; run_dir: string }>(SELECT_ENDED_BEFORE);
  const deleteEnded = db.prepare<[string]>(DELETE_ENDED);

  function createPipeline(spec: PipelineSpec, now: number): Pipeline {
    const row = insertPipeline.get(spec.name, JSON.stringify(spec), now);
    if (!row) throw new PipelineExistsError(spec.name);
    return pipelineFromRow(row);
  }

  function getPipelineRun(id: number): PipelineRunDetail | null {
    const row = selectRun.get(id);
    return row ? { ...runFromRow(row), jobs: selectRunJobs.all(id).map(runJobFromRow), tasks: selectRunTasks.all(id).map(runTaskFromRow) } : null;
  }

  /**
   * Creates a run's units not created yet, step by step: jobs in one submit per step (each `after` a job of the
   * run, by id), tasks per pool (keyed by run, step and lane); each recorded as its step and lane's.
   */
  function createUnits(runId: number, units: readonly PlannedUnit[], now: number, owner: JobOwner | null): void {
    const ids = new Map(selectRunJobs.all(runId).map((j) => [`${j.step}/${j.lane}`, j.job_id]));
    const runTasks = selectRunTasks.all(runId).map((t) => `${t.step}/${t.lane}`);
    const taken = new Set([...ids.keys(), ...runTasks]);
    const fresh = units.filter((u) => !taken.has(`${u.step}/${u.lane}`));
    const taskKeys = new Set([...runTasks, ...fresh.flatMap((u) => (u.kind === 'task' ? [`${u.step}/${u.lane}`] : []))]);
    for (const step of [...new Set(fresh.map((u) => u.step))].sort((a, b) => a - b)) {
      const ofStep = fresh.filter((u) => u.step === step);
      const jobUnits = ofStep.flatMap((u) => (u.kind === 'job' ? [u] : []));
      const out = jobs.submitJobs(jobUnits.map((u) => ({ ...u.spec, dependsOn: jobsAfter(u, ids, taskKeys) })), now, owner);
      jobUnits.forEach((u, i) => {
        ids.set(`${u.step}/${u.lane}`, out[i]!.job.id);
        insertRunJob.run(runId, u.step, u.lane, out[i]!.job.id);
      });
      for (const u of ofStep) {
        if (u.kind !== 'task') continue;
        const [t] = tasks.submitTasks(u.pool, [{ payloadJson: JSON.stringify(u.payload), idempotencyKey: u.idempotencyKey }], now, owner);
        insertRunTask.run(runId, u.step, u.lane, u.pool, t!.task.id);
      }
    }
  }

  function createPipelineRun(
    run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number }; idempotencyKey?: string; source?: string },
    plan: (runId: number, spec: PipelineSpec) => PlannedUnit[],
    now: number,
    owner: JobOwner | null,
  ): PipelineRunDetail | null {
    if (run.idempotencyKey !== undefined) {
      const existing = selectRunByKey.get(run.idempotencyKey);
      if (existing) return getPipelineRun(existing.id);
    }
    const row0 = selectPipeline.get(run.pipeline);
    if (!row0) return null;
    const { spec } = pipelineFromRow(row0);
    const row = insertRun.get(run.pipeline, JSON.stringify(spec), run.runDir, JSON.stringify(run.inputs), owner?.name ?? null, owner?.tokenId ?? null, run.idempotencyKey ?? null, run.source ?? null, now)!;
    // Throwing rolls the whole run back (the transaction is sqlite-store.ts's).
    if (run.claim !== undefined && takeClaim.run(row.id, run.claim).changes === 0) throw new ClaimTakenError(run.claim);
    if (run.fire !== undefined && takeFire.run(run.fire.schedule, run.fire.at, row.id).changes === 0) throw new FireTakenError(run.fire.schedule, run.fire.at);
    createUnits(row.id, plan(row.id, spec), now, owner);
    return getPipelineRun(row.id);
  }

  function advancePipelineRun(id: number, units: PlannedUnit[], now: number): PipelineRunDetail | null {
    const run = selectRunOwner.get(id);
    if (!run) return null;
    createUnits(id, units, now, runOwner(run.owner, run.owner_token_id));
    return getPipelineRun(id);
  }

  function runningPipelineRuns(): PipelineRunDetail[] {
    const jobsOf = byRun(selectRunningJobs.all(), runJobFromRow);
    const tasksOf = byRun(selectRunningTasks.all(), runTaskFromRow);
    return selectRunning.all().map((r) => ({ ...runFromRow(r), jobs: jobsOf.get(r.id) ?? [], tasks: tasksOf.get(r.id) ?? [] }));
  }

  function choosePipelineOutputs(id: number, outputs: PublishedFile[]): PublishedFile[] {
    setOutputs.run(JSON.stringify(outputs), id);
    const row = selectRun.get(id);
    return (row && runFromRow(row).outputs) ?? [];
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
    advancePipelineRun,
    getPipelineRun,
    listPipelineRuns: (filter: { pipeline?: string; before?: number; limit: number }): PipelineRun[] =>
      selectRuns.all({ pipeline: filter.pipeline ?? null, before: filter.before ?? Number.MAX_SAFE_INTEGER, limit: filter.limit }).map(runFromRow),
    runningPipelineRuns,
    countRunningPipelineRuns: (): Record<string, number> => Object.fromEntries(countRunning.all().map((r) => [r.pipeline, r.n])),
    choosePipelineOutputs,
    endedPipelineRunsBefore: (before: number, limit: number): { id: number; runDir: string }[] => selectEndedBefore.all(before, limit).map((r) => ({ id: r.id, runDir: r.run_dir })),
    deletePipelineRuns: (ids: number[]): number => deleteEnded.run(JSON.stringify(ids)).changes,
    endPipelineRun: (id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): boolean =>
      endRun.run(end.state, end.reason, end.onFailureJobId, now, id).changes > 0,
  };
}
