import type { JobOwner } from '../core/access.js';
import type { PipelineRun, PipelineRunDetail, PlannedJob, PublishedFile } from '../core/pipeline-run.js';
import type { Pipeline, PipelineSpec } from '../core/pipeline-spec.js';
import type { AuditOf } from './access-store.js';

/**
 * The Store's pipelines (migration 0015, ADR 0018): definitions (`pipelines`), runs (`pipeline_runs`) and which
 * job is which step of a run (`pipeline_run_jobs`; the jobs are ordinary rows of `jobs`). Like every Store
 * method, each is one transaction, durable when it resolves.
 */
export interface PipelineStore {
  /** Throws PipelineExistsError when a pipeline of that name exists. */
  createPipeline(spec: PipelineSpec, now: number, audit?: AuditOf<Pipeline>): Promise<Pipeline>;
  /** Deletes the definition (its runs stay, with the spec they were created with); false for an unknown pipeline. */
  deletePipeline(name: string, audit?: AuditOf<boolean>): Promise<boolean>;
  getPipeline(name: string): Promise<Pipeline | null>;
  listPipelines(): Promise<Pipeline[]>;

  /**
   * Records a run of `pipeline` and submits its jobs, in one transaction: `plan(runId)` gives the jobs in
   * submission order, each job's dependsOn made of the ids of the planned jobs it waits for. Null (nothing stored)
   * when the pipeline does not exist. With `claim` (a directory trigger's claim, trigger-store.ts), the run is
   * recorded as that claim's in the same transaction; ClaimTakenError (nothing stored) when the claim has a run.
   * With `fire` (a schedule's fire, schedule-store.ts), the fire is recorded with the run likewise; FireTakenError
   * (nothing stored) when that fire has its run.
   */
  createPipelineRun(
    run: { pipeline: string; runDir: string; inputs: string[]; claim?: number; fire?: { schedule: string; at: number } },
    plan: (runId: number, spec: PipelineSpec) => PlannedJob[],
    now: number,
    owner: JobOwner | null,
  ): Promise<PipelineRunDetail | null>;
  getPipelineRun(id: number): Promise<PipelineRunDetail | null>;
  /** Newest first; `before`: only runs with a smaller id (paging). */
  listPipelineRuns(filter: { pipeline?: string; before?: number; limit: number }): Promise<PipelineRun[]>;
  /** The runs still running, with their jobs' states (what the leader's pipeline controller reads). */
  runningPipelineRuns(): Promise<PipelineRunDetail[]>;
  /** Records the files a successful run publishes, once (a second call keeps the first choice); returns those recorded. */
  choosePipelineOutputs(id: number, outputs: PublishedFile[]): Promise<PublishedFile[]>;
  /** Ends a running run (no-op for one already ended); false when it was not running. */
  endPipelineRun(id: number, end: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null; onFailureJobId: number | null }, now: number): Promise<boolean>;
}
