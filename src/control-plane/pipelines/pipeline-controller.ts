import type { Logger } from 'pino';
import type client from 'prom-client';
import type { Clock } from '../../core/clock.js';
import { PoolNotFoundError, PoolStoppedError } from '../../core/errors.js';
import { lanesOf, onFailureJob, plannedUnits, planRun, runLayout, runOutcome, unitsToCreate, type PipelineRunDetail } from '../../core/pipeline-run.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import { SerialLoop } from '../serial-loop.js';
import { chooseOutputs, finalFiles, publish } from './run-files.js';

/** Passes are this far apart at least: wakes come with every job end. */
const MIN_SPACING_MS = 50;

/**
 * The leader's pipeline loop (ADR 0018): follows every running run to its end. A run whose jobs all succeeded
 * has its last step's files published to the pipeline's output directory (names chosen and stored first, then
 * each file copied beside its final name and renamed into place), then ends `succeeded`; a run with a job failed
 * for good or cancelled ends `failed` or `cancelled` once none of its jobs runs any more, after its on-failure
 * job (if the pipeline has one) was submitted. Every step is idempotent, so a new leader takes over where the
 * last one stopped: chosen names are kept, files in place are not copied again, the on-failure job has an
 * idempotency key. Passes never overlap; a wake during a pass runs one more.
 */
export class PipelineController {
  private readonly loop: SerialLoop;
  /** Whether a run may be under way (jobsEnded wakes a pass only then). */
  private active = true;

  constructor(
    private readonly store: Store,
    private readonly controlPlane: Pick<ControlPlane, 'submitParsed'>,
    private readonly clock: Clock,
    private readonly runsEnded: client.Counter<'pipeline' | 'outcome'>,
    private readonly log: Logger,
    periodMs: number,
  ) {
    this.loop = new SerialLoop(() => this.pass(), { periodMs, minSpacingMs: MIN_SPACING_MS, onError: (err) => this.log.warn({ err }, 'pipeline controller pass failed; the next one retries') });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** A pass soon: a run was started here. */
  wake(): void {
    this.active = true;
    this.loop.wake();
  }

  /**
   * Jobs ended somewhere: a pass soon if a run is under way (the last pass saw one, or one was started since);
   * otherwise the periodic pass will find runs started through other servers, and job ends cost nothing here.
   */
  jobsEnded(): void {
    if (this.active) this.loop.wake();
  }

  async pass(): Promise<void> {
    const runs = await this.store.runningPipelineRuns();
    this.active = runs.length > 0;
    for (const run of runs) {
      try {
        await this.follow(run);
      } catch (err) {
        this.log.warn({ err, run: run.id, pipeline: run.pipeline }, 'could not end pipeline run; the next pass retries');
      }
    }
  }

  private async follow(started: PipelineRunDetail): Promise<void> {
    const layout = runLayout(started.runDir);
    const planned = plannedUnits(started.spec, started.inputs.length);
    let run = started;
    let refused: string | null = null;
    // Planned anew only while units are still to be created (runs with a pool step): most passes have none.
    const next = run.jobs.length + run.tasks.length < planned ? unitsToCreate(planRun(run.spec, run.id, layout, run.inputs), run) : [];
    if (next.length > 0) {
      try {
        run = (await this.store.advancePipelineRun(run.id, next, this.clock.now())) ?? run;
      } catch (err) {
        // The pool of the next step is gone or stopped: the run cannot go on (a trigger's file goes to failed/).
        if (!(err instanceof PoolNotFoundError || err instanceof PoolStoppedError)) throw err;
        const unit = next.find((u) => u.kind === 'task' && u.pool === err.pool);
        refused = `step ${unit ? run.spec.steps[unit.step]!.name : '?'}: ${err.message}`;
      }
    }
    const computed = runOutcome(run.spec, run, planned);
    if (computed.state === 'running') return;
    let outcome: { state: 'succeeded' | 'failed' | 'cancelled'; reason: string | null };
    if (computed.state !== 'pending') outcome = { state: computed.state, reason: computed.reason };
    else if (refused !== null) outcome = { state: 'failed', reason: refused };
    else return;
    let onFailureJobId: number | null = null;
    if (outcome.state === 'succeeded') {
      const last = run.spec.steps.length - 1;
      const dirs = Array.from({ length: lanesOf(run.spec, last, run.inputs.length) }, (_, lane) => layout.stepDir(run.spec.steps[last]!.name, lane));
      const outputs = run.outputs ?? (await this.store.choosePipelineOutputs(run.id, await chooseOutputs(await finalFiles(dirs), run.spec.outputDir, run.id)));
      await publish(outputs, run.spec.outputDir, run.id);
    } else {
      const job = onFailureJob(run.spec, run.id, layout, outcome.reason ?? outcome.state);
      if (job) {
        // Submitted by gpuq, not by a token: owned by nobody, like pool replicas.
        const [submitted] = await this.controlPlane.submitParsed([job], null);
        onFailureJobId = submitted!.job.id;
      }
    }
    if (await this.store.endPipelineRun(run.id, { state: outcome.state, reason: outcome.reason, onFailureJobId }, this.clock.now())) {
      this.runsEnded.inc({ pipeline: run.pipeline, outcome: outcome.state });
      this.log.info({ run: run.id, pipeline: run.pipeline, state: outcome.state, reason: outcome.reason }, 'pipeline run ended');
    }
  }
}
