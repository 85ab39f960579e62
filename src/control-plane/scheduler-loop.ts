import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { place } from '../core/scheduler/place.js';
import type { Store } from '../store/store.js';
import type { ControlPlane } from './control-plane.js';
import type { Metrics } from './metrics.js';

export interface SchedulerLoopOptions {
  /** Most queued jobs read per pass; a full pass runs again at once. */
  batchSize: number;
  leaseMs: number;
  /** Passes also run on this period, for retries whose backoff ran out. */
  periodMs: number;
}

/**
 * Runs scheduling passes: snapshot → place (pure) → applyPlan (the store drops
 * stale placements) → dispatch to agents. A pass runs when woken (submit,
 * attempt end, replay, node change) and on a short period; wakes during a
 * pass coalesce into one more pass, so an idle system starts a job in the
 * same event-loop turn family as its submit, and a busy one batches.
 */
export class SchedulerLoop {
  private running = false;
  private dirty = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  /** Time of the last completed pass, for readiness checks. */
  lastPassAt = 0;
  lastError: string | null = null;
  /** Why queued jobs are waiting, from the last pass that saw them. */
  readonly waiting = new Map<number, string>();

  constructor(
    private readonly store: Store,
    private readonly controlPlane: ControlPlane,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly options: SchedulerLoopOptions,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => this.wake(), this.options.periodMs);
    this.timer.unref();
    this.wake();
  }

  /** Stops scheduling; resolves when the pass in progress (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.running) await new Promise((r) => setImmediate(r));
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      let again = true;
      while (again && !this.stopped) {
        this.dirty = false;
        const placed = await this.pass();
        again = this.dirty || placed >= this.options.batchSize;
      }
      this.lastError = null;
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      this.log.error({ err: e }, 'scheduler pass failed; retrying on the next wake');
    } finally {
      this.running = false;
    }
  }

  /** One pass; returns how many attempts it started. */
  private async pass(): Promise<number> {
    const t0 = performance.now();
    const now = this.clock.now();
    if (this.controlPlane.maintenanceMode === 'drain') {
      this.lastPassAt = now;
      return 0;
    }
    const { nodes, queued } = await this.store.schedulingSnapshot(now, this.options.batchSize);
    if (queued.length === 0) {
      this.lastPassAt = now;
      this.waiting.clear();
      return 0;
    }
    const plan = place({ now, nodes, queued });
    const assigned = plan.placements.length > 0 ? await this.store.applyPlan(plan.placements, now, this.options.leaseMs) : [];
    this.waiting.clear();
    for (const w of plan.waiting) this.waiting.set(w.jobId, w.reason);
    this.controlPlane.dispatch(assigned);
    this.metrics.schedulerLoop.observe((performance.now() - t0) / 1000);
    this.lastPassAt = now;
    return assigned.length;
  }
}
