import type { JobOwner } from '../core/access.js';
import type { PipelineRun, PublishedFile, RunJobState, RunTaskState } from '../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../core/pipeline-spec.js';
import type { TaskState } from '../core/pool-spec.js';
import type { JobState } from '../core/types.js';

/**
 * Rows of the pipeline tables (migrations 0015 and 0019) and the public objects made from them, once for both
 * databases: JSON columns are text on SQLite and parsed (json) on PostgreSQL.
 */

type Json<T> = string | T;

const json = <T>(v: Json<T>): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

export interface PipelineRow {
  name: string;
  spec: Json<PipelineSpec>;
  created_at: number;
}

export interface RunRow {
  id: number;
  pipeline: string;
  spec: Json<PipelineSpec>;
  state: string;
  run_dir: string;
  inputs: Json<string[]>;
  owner: string | null;
  source: string | null;
  reason: string | null;
  outputs: Json<PublishedFile[]> | null;
  on_failure_job_id: number | null;
  created_at: number;
  ended_at: number | null;
}

/** A pipeline_run_jobs row with its job's state joined in. */
export interface RunJobRow {
  run_id: number;
  step: number;
  lane: number;
  job_id: number;
  state: string;
  reason: string | null;
}

/** A pipeline_run_tasks row with its task's state joined in (null: the task is gone with its pool). */
export interface RunTaskRow {
  run_id: number;
  step: number;
  lane: number;
  pool: string;
  task_id: number;
  state: string | null;
  error: string | null;
}

/** The columns of a RunRow, in every select of runs. */
export const RUN_COLUMNS = `id, pipeline, spec, state, run_dir, inputs, owner, source, reason, outputs, on_failure_job_id, created_at, ended_at`;

export const pipelineFromRow = (r: PipelineRow): Pipeline => ({ name: r.name, spec: json(r.spec), createdAt: r.created_at });

export function runFromRow(r: RunRow): PipelineRun {
  return {
    id: r.id,
    pipeline: r.pipeline,
    spec: json(r.spec),
    state: r.state as PipelineRun['state'],
    runDir: r.run_dir,
    inputs: json(r.inputs),
    owner: r.owner,
    source: r.source,
    reason: r.reason,
    outputs: r.outputs === null ? null : json(r.outputs),
    onFailureJobId: r.on_failure_job_id,
    createdAt: r.created_at,
    endedAt: r.ended_at,
  };
}

export const runJobFromRow = (r: RunJobRow): RunJobState => ({ step: r.step, lane: r.lane, jobId: r.job_id, state: r.state as JobState, reason: r.reason });
export const runTaskFromRow = (r: RunTaskRow): RunTaskState => ({ step: r.step, lane: r.lane, pool: r.pool, taskId: r.task_id, state: r.state as TaskState | null, error: r.error });

/** Rows of many runs grouped by run, mapped, in the rows' order. */
export function byRun<R extends { run_id: number }, T>(rows: readonly R[], map: (r: R) => T): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const r of rows) {
    const list = out.get(r.run_id);
    if (list) list.push(map(r));
    else out.set(r.run_id, [map(r)]);
  }
  return out;
}

/** The owner of units created after a run's start: the run's own (a name without a token id: nobody, as before migration 0019 kept it). */
export const runOwner = (owner: string | null, tokenId: string | null): JobOwner | null => (owner !== null && tokenId !== null ? { name: owner, tokenId } : null);
