import type { Logger } from 'pino';
import { z } from 'zod';
import type { JobOwner } from '../../core/access.js';
import type { Clock } from '../../core/clock.js';
import { DrainingError, GpuqError, PipelineNotFoundError, PipelineRunNotFoundError, ValidationError } from '../../core/errors.js';
import { planRun, runInputProblem, runLayout, unitsToCreate, type PipelineRun, type PipelineRunDetail } from '../../core/pipeline-run.js';
import { parsePipelineSpec, PIPELINE_LIMITS, specJobs, type Pipeline, type PipelineSpec } from '../../core/pipeline-spec.js';
import type { MaintenanceMode } from '../../core/types.js';
import type { AuditOf } from '../../store/access-store.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import { parseRequest } from '../request-schemas.js';
import { checkInputs, newRunDir, prepareRunDir, removeRunDir, type RunInput } from './run-files.js';

const runBody = z.strictObject({
  inputs: z
    .array(
      z.union([z.strictObject({ path: z.string().min(1).max(4096), name: z.string().min(1).max(255).optional() }), z.strictObject({ name: z.string().min(1).max(255), data: z.base64('must be base64') })], {
        message: 'each input is {"path": "/abs/file", "name"?: "as-named"} (read by the server) or {"name": "file", "data": "<base64>"}',
      }),
    )
    .max(PIPELINE_LIMITS.maxInputs, `at most ${PIPELINE_LIMITS.maxInputs} inputs per run`)
    .default([]),
});

/** What a run was started for: a trigger's claim, a schedule's fire, a broker message (its key and source). */
export interface RunOrigin {
  claim?: number;
  fire?: { schedule: string; at: number };
  idempotencyKey?: string;
  source?: string;
}

export interface PipelineServiceDeps {
  store: Store;
  controlPlane: Pick<ControlPlane, 'checkPlaceable' | 'onWork'>;
  clock: Clock;
  log: Logger;
  maintenance: () => MaintenanceMode;
  /** Where runs' directories go: <pipelinesDir>/<pipeline>/runs/<run>. In a cluster, a directory every node and server shares. */
  pipelinesDir: string;
  /** A run was stored: the leader's controller follows it (when this server leads). */
  runStarted: () => void;
}

/**
 * Pipelines' use cases (ADR 0018): definitions (create, delete, read) and runs (start, read). A run's jobs are
 * ordinary jobs created with the run, in one store transaction; the leader's PipelineController follows them to
 * the run's end.
 */
export class PipelineService {
  constructor(private readonly deps: PipelineServiceDeps) {}

  async create(input: unknown, audit?: AuditOf<Pipeline>): Promise<Pipeline> {
    const spec = parsePipelineSpec(input);
    const jobs = specJobs(spec);
    await this.deps.controlPlane.checkPlaceable(
      jobs.map((j) => j.job),
      (i) => `${jobs[i]!.path}: `,
    );
    await this.checkPools(spec);
    const pipeline = await this.deps.store.createPipeline(spec, this.deps.clock.now(), audit);
    this.deps.log.info({ pipeline: pipeline.name, steps: spec.steps.length }, 'pipeline created');
    return pipeline;
  }

  async delete(name: string, audit?: AuditOf<boolean>): Promise<void> {
    if (!(await this.deps.store.deletePipeline(name, audit))) throw new PipelineNotFoundError(name);
  }

  async pipeline(name: string): Promise<Pipeline> {
    const p = await this.deps.store.getPipeline(name);
    if (!p) throw new PipelineNotFoundError(name);
    return p;
  }

  list(): Promise<Pipeline[]> {
    return this.deps.store.listPipelines();
  }

  /** Starts a run of the pipeline over `body.inputs`: its files laid out, then the run and all its jobs stored at once. */
  async run(name: string, body: unknown, owner: JobOwner | null): Promise<PipelineRunDetail> {
    const { inputs } = parseRequest(runBody, body ?? {});
    return this.start(name, inputs, owner);
  }

  /**
   * `origin.claim`: a directory trigger's claim this run is for (recorded with the run, once: CLAIM_TAKEN
   * otherwise); `origin.fire`: a schedule's fire this run is for (likewise: FIRE_TAKEN otherwise);
   * `origin.idempotencyKey`: a broker message's key (a run stored under it is returned, and nothing new started).
   */
  async start(name: string, inputs: RunInput[], owner: JobOwner | null, origin: RunOrigin = {}): Promise<PipelineRunDetail> {
    if (this.deps.maintenance() === 'drain') throw new DrainingError();
    const { spec } = await this.pipeline(name);
    const names = await checkInputs(inputs);
    const problem = runInputProblem(spec, names);
    if (problem !== null) throw new ValidationError([{ path: 'inputs', message: problem }]);
    const jobs = spec.steps.flatMap((s) => (s.job ? [{ step: s.name, job: s.job }] : []));
    await this.deps.controlPlane.checkPlaceable(
      jobs.map((j) => j.job),
      (i) => `step ${jobs[i]!.step}: `,
    );
    const now = this.deps.clock.now();
    const layout = runLayout(newRunDir(this.deps.pipelinesDir, name, now));
    // The directories each unit writes depend on the steps and lanes only: laid out before the run exists.
    const outputDirs = planRun(spec, 0, layout, names).map((p) => p.outputDir);
    await prepareRunDir(layout, inputs, names, outputDirs);
    const run = await this.deps.store.createPipelineRun(
      { pipeline: name, runDir: layout.runDir, inputs: names, ...origin },
      (runId, stored) => {
        // Deleted and defined anew since it was read: the directories laid out may not be the new steps'.
        if (JSON.stringify(stored) !== JSON.stringify(spec)) throw new GpuqError('PIPELINE_NOT_FOUND', `pipeline "${name}" was redefined while the run was starting: start it again`);
        return unitsToCreate(planRun(stored, runId, layout, names), { jobs: [], tasks: [] });
      },
      now,
      owner,
    ).catch(async (err: unknown) => {
      // Refused (nothing stored): the directory is nobody's. After any other error the run may have been stored
      // (a connection lost after the commit), so its directory stays.
      if (err instanceof GpuqError) await removeRunDir(layout.runDir);
      throw err;
    });
    if (!run) {
      await removeRunDir(layout.runDir);
      throw new PipelineNotFoundError(name);
    }
    // Started before under this key: the directory laid out for this call is nobody's.
    if (run.runDir !== layout.runDir) {
      await removeRunDir(layout.runDir);
      return run;
    }
    this.deps.controlPlane.onWork();
    this.deps.runStarted();
    this.deps.log.info({ pipeline: name, run: run.id, jobs: run.jobs.length, inputs: names.length }, 'pipeline run started');
    return run;
  }

  /** A pool step names a pool that exists (its replicas' placement is the pool's own check, at its creation). */
  private async checkPools(spec: PipelineSpec): Promise<void> {
    const issues: { path: string; message: string }[] = [];
    for (const [i, s] of spec.steps.entries()) {
      if (s.pool && !(await this.deps.store.getPool(s.pool.name))) issues.push({ path: `steps.${i}.pool.name`, message: `pool "${s.pool.name}" does not exist (create it first: gpuq pool create)` });
    }
    if (issues.length > 0) throw new ValidationError(issues);
  }

  async getRun(id: number): Promise<PipelineRunDetail> {
    const run = await this.deps.store.getPipelineRun(id);
    if (!run) throw new PipelineRunNotFoundError(id);
    return run;
  }

  listRuns(filter: { pipeline?: string; before?: number; limit: number }): Promise<PipelineRun[]> {
    return this.deps.store.listPipelineRuns(filter);
  }
}
