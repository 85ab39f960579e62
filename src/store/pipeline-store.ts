import type { JobOwner } from '../core/access.js';
import type { PipelineRun, PipelineRunDetail, PlannedUnit, PublishedFile } from '../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../core/pipeline-spec.js';
import type { AuditOf } from './access-store.js';
import type { Fence } from './leadership.js';

/**
 * The Store's pipelines (migrations 0015 and 0019, ADR 0018): definitions (`pipelines`), runs (`pipeline_runs`)
 * and which job or pool task is which step of a run (`pipeline_run_jobs`, `pipeline_run_tasks`; the jobs and tasks
 * are ordinary rows of `jobs` and `pool_tasks`). Like every Store method, each is one transaction, durable when it
 * resolves.
 */
export interface PipelineStore {
  /** Throws PipelineExistsError when a pipeline of that name exists. */
  createPipeline(spec: PipelineSpec, now: number, audit?: AuditOf<Pipeline>): Promise<Pipeline>;
  /** Deletes the definition (its runs stay, with the spec they were created with); false for an unknown pipeline. */
  deletePipeline(name: string, audit?: AuditOf<boolean>): Promise<boolean>;
  getPipeline(name: string): Promise<Pipeline | null>;
  listPipelines(): Promise<Pipeline[]>;

  /**
   * Records a run of `pipeline` and creates its first units, in one transaction: `plan(runId, spec)` gives the
   * units to create now in creation order, each job's dependsOn made of the ids of the run's jobs it waits for,
   * each task submitted to its pool (PoolNotFoundError, PoolStoppedError: nothing stored). Null (nothing stored)
   * when the pipeline does not exist. With `claim` (a directory trigger's claim, trigger-store.ts), the run is
   * recorded as that claim's in the same transaction; ClaimTakenError (nothing stored) when the claim has a run.
   * With `fire` (a schedule's fire, schedule-store.ts), the fire is recorded with the run likewise; FireTakenError
   * (nothing stored) when that fire has its run. With `idempotencyKey`, a run stored under that key already is
   * returned as it is (nothing new stored; its runDir tells it from a new one). `source`: the broker intake source
   * whose message it is. When the run ends, its pipeline.run.ended feed event is written with the end.
   */
  createPipelineRun(
    run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number }; idempotencyKey?: string; source?: string },
    plan: (runId: number, spec: PipelineSpec) => PlannedUnit[],
    now: number,
    owner: JobOwner | null,
  ): Promise<PipelineRunDetail | null>;
  /**
   * Creates more units of a running run (those after a pool step, core/pipeline-run.ts unitsToCreate), owned by the
   * run's owner, in one transaction; units the run has (by step and lane) are skipped. Null when the run is not
   * running. Throws PoolNotFoundError or PoolStoppedError (nothing stored) when a task's pool cannot take it.
   */
  advancePipelineRun(id: number, units: PlannedUnit[], now: number): Promise<PipelineRunDetail | null>;
  getPipelineRun(id: number): Promise<PipelineRunDetail | null>;
  /** Newest first; `before`: only runs with a smaller id (paging). */
  listPipelineRuns(filter: { pipeline?: string; before?: number; limit: number }): Promise<PipelineRun[]>;
  /** How many runs are running, by pipeline (pipelines with none are absent). */
  countRunningPipelineRuns(): Promise<Record<string, number>>;
  /** The runs still running, with their jobs' states (what the leader's pipeline controller reads). */
  runningPipelineRuns(): Promise<PipelineRunDetail[]>;
  /** Records the files a successful run publishes, once (a second call keeps the first choice); returns those recorded. */
  choosePipelineOutputs(id: number, outputs: PublishedFile[]): Promise<PublishedFile[]>;
  /** Runs that ended before `before`, oldest first, at most `limit`: what retention removes (their directories first). */
  endedPipelineRunsBefore(before: number, limit: number): Promise<{ id: number; runDir: string }[]>;
  /** Deletes these runs if they ended, with their rows of which job and task is which step; returns how many. */
  deletePipelineRuns(ids: number[], fence?: Fence): Promise<number>;
  /** Ends a running run (no-op for one already ended); false when it was not running. */
  endPipelineRun(id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): Promise<boolean>;
}
