import type { PipelineRun, PipelineRunDetail, PublishedFile, RunJobState, RunState } from '../core/pipeline-run.js';
import type { Pipeline, PipelineSpec, PipelineSpecInput, PipelineStep } from '../core/pipeline-spec.js';
import type { Schedule, ScheduleFire, ScheduleSpec, ScheduleSpecInput } from '../core/schedule-spec.js';
import type { Trigger, TriggerSpec, TriggerSpecInput } from '../core/trigger-spec.js';
import { PoolsApi } from './pools-client.js';

export type { Pipeline, PipelineRun, PipelineRunDetail, PipelineSpec, PipelineSpecInput, PipelineStep, PublishedFile, RunJobState, RunState, Schedule, ScheduleFire, ScheduleSpec, ScheduleSpecInput, Trigger, TriggerSpec, TriggerSpecInput };

/** A run's input: a file the server reads (absolute path), or the file's bytes, base64. */
export type RunInputSpec = { path: string } | { name: string; data: string };

/**
 * The pipeline calls of the API (ADR 0018). `GpuqClient` extends this (and through it `PoolsApi`), so they read as
 * `client.createPipeline(…)`. Errors: `GpuqApiError` with the server's code (PIPELINE_NOT_FOUND, PIPELINE_EXISTS,
 * PIPELINE_RUN_NOT_FOUND, VALIDATION_FAILED, UNSCHEDULABLE, DRAINING, …).
 */
export abstract class PipelinesApi extends PoolsApi {
  async createPipeline(spec: PipelineSpecInput): Promise<{ pipeline: Pipeline }> {
    return this.request('POST', '/v1/pipelines', spec);
  }

  async listPipelines(): Promise<{ pipelines: Pipeline[] }> {
    return this.request('GET', '/v1/pipelines');
  }

  /** The pipeline and its 20 latest runs. */
  async getPipeline(name: string): Promise<{ pipeline: Pipeline; runs: PipelineRun[] }> {
    return this.request('GET', `/v1/pipelines/${encodeURIComponent(name)}`);
  }

  /** Deletes the definition; its runs and their jobs are kept. */
  async deletePipeline(name: string): Promise<{ deleted: true }> {
    return this.request('DELETE', `/v1/pipelines/${encodeURIComponent(name)}`);
  }

  /** Starts a run over the inputs: the run and all its jobs are stored at once. */
  async runPipeline(name: string, inputs: RunInputSpec[] = []): Promise<{ run: PipelineRunDetail }> {
    return this.request('POST', `/v1/pipelines/${encodeURIComponent(name)}/runs`, { inputs });
  }

  async listPipelineRuns(options: { pipeline?: string; before?: number; limit?: number } = {}): Promise<{ runs: PipelineRun[]; nextBefore: number | null }> {
    const q = new URLSearchParams();
    if (options.pipeline) q.set('pipeline', options.pipeline);
    if (options.before !== undefined) q.set('before', String(options.before));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const qs = q.toString();
    return this.request('GET', `/v1/pipeline-runs${qs ? `?${qs}` : ''}`);
  }

  async getPipelineRun(id: number): Promise<{ run: PipelineRunDetail }> {
    return this.request('GET', `/v1/pipeline-runs/${id}`);
  }

  /** A directory trigger: each complete file landing in its directory starts one run of its pipeline. */
  async createTrigger(spec: TriggerSpecInput): Promise<{ trigger: Trigger }> {
    return this.request('POST', '/v1/triggers', spec);
  }

  async listTriggers(): Promise<{ triggers: Trigger[] }> {
    return this.request('GET', '/v1/triggers');
  }

  async deleteTrigger(name: string): Promise<{ deleted: true }> {
    return this.request('DELETE', `/v1/triggers/${encodeURIComponent(name)}`);
  }

  /** Puts a file whose run failed (in the trigger's failed/) back into its directory: it runs again. */
  async retryTriggerFile(name: string, file: string): Promise<{ file: string }> {
    return this.request('POST', `/v1/triggers/${encodeURIComponent(name)}/retry`, { file });
  }

  /** Pauses (or resumes) the named triggers, or all of them with 'all'. */
  async setTriggersPaused(names: string[] | 'all', paused: boolean): Promise<{ changed: string[]; triggers: Trigger[] }> {
    return this.request('POST', `/v1/triggers/${paused ? 'pause' : 'resume'}`, names === 'all' ? { all: true } : { names });
  }

  /** A schedule: a cron (UTC) that starts a pipeline run with no inputs, or submits a job, at each of its times. */
  async createSchedule(spec: ScheduleSpecInput): Promise<{ schedule: Schedule }> {
    return this.request('POST', '/v1/schedules', spec);
  }

  async listSchedules(): Promise<{ schedules: Schedule[] }> {
    return this.request('GET', '/v1/schedules');
  }

  /** One schedule and its latest fires, newest first. */
  async getSchedule(name: string): Promise<{ schedule: Schedule; fires: ScheduleFire[] }> {
    return this.request('GET', `/v1/schedules/${encodeURIComponent(name)}`);
  }

  async deleteSchedule(name: string): Promise<{ deleted: true }> {
    return this.request('DELETE', `/v1/schedules/${encodeURIComponent(name)}`);
  }

  /** Pauses (or resumes) the named schedules, or all of them with 'all'. Resumed, a schedule fires from now on. */
  async setSchedulesPaused(names: string[] | 'all', paused: boolean): Promise<{ changed: string[]; schedules: Schedule[] }> {
    return this.request('POST', `/v1/schedules/${paused ? 'pause' : 'resume'}`, names === 'all' ? { all: true } : { names });
  }
}
