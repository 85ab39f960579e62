import type { Logger } from 'pino';
import type { AttemptUsageReport } from '../agent/agent-link.js';
import { DEFAULT_IDLE_POLICY, idleCancelReason, type GpuUsage, type IdlePolicy } from '../core/gpu-usage.js';
import type { Clock } from '../core/clock.js';
import type { IdleChange } from '../store/gpu-usage-store.js';
import type { Store } from '../store/store.js';
import type { Metrics } from './metrics.js';

export interface IdleSettings {
  /** What agents apply (sent to each with its registration). */
  policy: IdlePolicy;
  /** Cancel the job of an attempt flagged idle (gpuq up --idle-cancel). */
  cancel: boolean;
}

export const DEFAULT_IDLE_SETTINGS: Readonly<IdleSettings> = Object.freeze({ policy: DEFAULT_IDLE_POLICY, cancel: false });

/**
 * GPU accounting on the control plane's side (core/gpu-usage.ts). Agents decide, from their own samples,
 * what each attempt's GPUs did and whether they are idle (the policy is this server's: it travels with each
 * registration answer, so every agent of a cluster applies the one its server was started with); this
 * records what they report, on whichever server they report to: live figures and idle flags with their
 * telemetry (a flag's change is a job.idle feed event, from the store's trigger), counts GPU-seconds of
 * ended attempts, and, with the cancel policy on, cancels the job of an attempt as it is flagged idle.
 * The flag changes exactly once in the store, so one server acts on it once.
 */
export class GpuAccounting {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    readonly settings: IdleSettings,
    /** Cancels jobs as the API's cancel does (the attempts' agents are told). */
    private readonly cancelJobs: (ids: number[], reason: string) => Promise<{ cancelled: unknown[] }>,
  ) {}

  get policy(): IdlePolicy {
    return this.settings.policy;
  }

  /** Records a node's live reports; acts on the idle flags that changed. */
  async recordLive(nodeId: string, usage: AttemptUsageReport[]): Promise<void> {
    const changes = await this.store.recordLiveGpuUsage(nodeId, usage, this.clock.now());
    for (const c of changes) await this.onIdleChange(c);
  }

  /** An attempt ended with these figures: its GPU-seconds are counted under its queue. */
  ended(queue: string, usage: readonly GpuUsage[] | undefined): void {
    if (usage === undefined || usage.length === 0) return;
    this.metrics.gpuSeconds.inc({ queue }, usage.reduce((s, u) => s + u.gpuSeconds, 0));
  }

  private async onIdleChange(c: IdleChange): Promise<void> {
    const scope = { jobId: c.jobId, attemptId: c.attemptId, nodeId: c.nodeId, devices: c.devices };
    if (c.idleSince === null) {
      this.log.info(scope, 'attempt no longer idle: its GPUs are busy again');
      return;
    }
    this.log.warn({ ...scope, idleSince: c.idleSince }, 'attempt flagged idle: its GPUs stayed under the idle utilization');
    if (!this.settings.cancel) return;
    const reason = idleCancelReason(this.settings.policy, c.nodeId, c.devices);
    try {
      // Already ended (or cancelled) meanwhile: nothing to count.
      if ((await this.cancelJobs([c.jobId], reason)).cancelled.length === 0) return;
      this.metrics.idleCancels.inc({ queue: c.queue });
      this.log.warn({ ...scope, reason }, 'cancelled the job of an idle attempt (--idle-cancel)');
    } catch (err) {
      this.log.error({ ...scope, err }, 'cancelling the job of an idle attempt failed');
    }
  }
}
