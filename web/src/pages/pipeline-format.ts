import type { FeedEvent } from '../../../src/core/feed-events.js';
import type { PipelineRun, PipelineStep } from '../../../src/sdk/pipelines-client.js';

/** How the pipeline pages read definitions and runs (the CLI's `gpuq pipeline ls/runs/status` say the same in text). */

/** The label every job of a run carries (ADR 0018): the run's id. */
export const RUN_LABEL = 'gpuq.pipeline.run';
/** The label every job of a run carries: the pipeline's name. */
export const PIPELINE_LABEL = 'gpuq.pipeline';

/**
 * A step as these pages read it. A step is a job template today (`job`); a step may instead be a task for a warm
 * worker pool (`pool: {name, …}`), so `job` may be absent. Every stored step fits this shape.
 */
export interface StepShape {
  name: string;
  fanOut: boolean;
  job?: { gpus: number; queue: string } | undefined;
  pool?: { name: string } | undefined;
}

/** What a step runs: "job (1 GPU, queue default)" or "pool NAME". */
export function stepKind(step: StepShape): { kind: 'job' | 'pool'; text: string } {
  if (step.pool) return { kind: 'pool', text: `pool ${step.pool.name}` };
  const j = step.job;
  if (!j) return { kind: 'job', text: 'job' };
  const parts = [j.gpus === 0 ? 'CPU' : `${j.gpus} GPU${j.gpus === 1 ? '' : 's'}`];
  if (j.queue !== 'default') parts.push(`queue ${j.queue}`);
  return { kind: 'job', text: `job (${parts.join(', ')})` };
}

/** The steps of a spec as StepShape (a compile-time check that stored steps fit it). */
export function stepsOf(steps: readonly PipelineStep[]): readonly StepShape[] {
  return steps;
}

export const RUN_ENDED: ReadonlySet<PipelineRun['state']> = new Set(['succeeded', 'failed', 'cancelled']);

/** How long a run took, or has run so far. */
export function runMs(run: Pick<PipelineRun, 'createdAt' | 'endedAt'>, now: number): number {
  return (run.endedAt ?? now) - run.createdAt;
}

/** Whether a feed event is a job of a pipeline run: of run `id` when given, else of any run (of `pipeline` when given). */
export function concernsRun(e: FeedEvent, filter: { id?: number; pipeline?: string } = {}): boolean {
  if (e.type === 'pipeline.run.ended') return (filter.id === undefined || e.run === filter.id) && (filter.pipeline === undefined || e.pipeline === filter.pipeline);
  if (e.type !== 'job.state') return false;
  const run = e.labels[RUN_LABEL];
  if (run === undefined) return false;
  if (filter.id !== undefined && run !== String(filter.id)) return false;
  return filter.pipeline === undefined || e.labels[PIPELINE_LABEL] === filter.pipeline;
}
