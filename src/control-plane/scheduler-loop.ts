import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { place } from '../core/scheduler/place.js';
import type { NodeCapacity } from '../core/scheduler/snapshot.js';
import type { Store } from '../store/store.js';
import type { ControlPlane } from './control-plane.js';
import type { Metrics } from './metrics.js';

export interface SchedulerLoopOptions {
  /** Most queued jobs read per pass (the look-ahead when capacity is plentiful); a full pass runs again at once. */
  batchSize: number;
  leaseMs: number;
  /** Passes also run on this period, for retries whose backoff ran out. */
  periodMs: number;
}

/** The smallest look-ahead of a pass, in queued jobs. */
const MIN_WINDOW = 16;
/**
 * While every run slot is taken and jobs wait for one, a wake waits this long
 * before the pass runs, so the attempt ends that arrive meanwhile are placed by
 * one pass rather than one pass each (a pass costs a snapshot, a write and a
 * message to the agent, whatever it places).
 */
const SATURATED_COALESCE_MS = 2;

/**
 * Runs scheduling passes: snapshot → place (pure) → applyPlan (the store drops
 * stale placements) → dispatch to agents. A pass runs when woken (submit,
 * attempt end, replay, node change) and on a short period; wakes during a
 * pass coalesce into one more pass, so an idle system starts a job in the
 * same event-loop turn family as its submit, and a busy one batches.
 *
 * Look-ahead. A pass reads the head of the queue, `window` jobs in priority
 * order, not the whole queue: when the cluster is full (every run slot taken)
 * and thousands of jobs wait, each attempt end wakes a pass, and reading the
 * whole backlog each time would cost far more than the jobs it starts (about
 * 3 µs per queued job read). The window adapts:
 *   - it starts at twice the run slots of the schedulable nodes (at least 16),
 *     enough to fill every free slot and look past a few blocked jobs;
 *   - when it was full and either everything in it was placed or a run slot
 *     is left free (the jobs read could not use it, later ones might), it
 *     grows 4× (up to batchSize) and the pass runs again at once;
 *   - when it was full and no slot is left, it goes back to its start size.
 * So a job that takes no slot (a noop) queued behind a long backlog of exec
 * jobs on a full cluster waits until it reaches the window, like any FIFO
 * queue; jobs it cannot see get a generic waiting reason.
 *
 * Saturation. While the last pass left jobs waiting and no run slot free,
 * wakes are gathered for SATURATED_COALESCE_MS before the next pass; an idle
 * or partly busy cluster still schedules in the same event-loop turn family.
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
  /** Queued jobs the next pass reads; see the look-ahead rule above. */
  private window = MIN_WINDOW;
  /** The last pass left runnable jobs unread (its window was full). */
  private unread = false;
  /** The last pass left jobs waiting and no run slot free: wakes are gathered for a moment. */
  private saturated = false;

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
    const go = () => {
      this.scheduled = false;
      void this.run();
    };
    if (this.saturated) setTimeout(go, SATURATED_COALESCE_MS);
    else setImmediate(go);
  }

  private async run(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      let more = true;
      while (!this.stopped && (more || (this.dirty && !this.saturated))) {
        this.dirty = false;
        more = await this.pass();
      }
      this.lastError = null;
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      this.log.error({ err: e }, 'scheduler pass failed; retrying on the next wake');
    } finally {
      this.running = false;
      // Woken during a saturated pass: run again after the gathering delay.
      if (this.dirty) {
        this.dirty = false;
        this.wake();
      }
    }
  }

  /** Why a queued job waits: the reason from the last pass that read it, or why no pass has. */
  waitingReason(jobId: number): string | null {
    const reason = this.waiting.get(jobId);
    if (reason !== undefined) return reason;
    return this.unread ? `not yet considered: each scheduling pass looks at the first ${this.window} runnable jobs in priority order, and those are waiting for capacity` : null;
  }

  /** One pass; returns whether another should run at once (it read a full window and a bigger one may place more). */
  private async pass(): Promise<boolean> {
    const t0 = performance.now();
    const now = this.clock.now();
    if (this.controlPlane.maintenanceMode === 'drain') {
      this.lastPassAt = now;
      this.saturated = false;
      return false;
    }
    const limit = Math.min(this.window, this.options.batchSize);
    const { nodes, queued } = await this.store.schedulingSnapshot(now, limit);
    if (queued.length === 0) {
      this.lastPassAt = now;
      this.waiting.clear();
      this.unread = false;
      this.saturated = false;
      return false;
    }
    const plan = place({ now, nodes, queued });
    const assigned = plan.placements.length > 0 ? await this.controlPlane.leaderWrite((fence) => this.store.applyPlan(plan.placements, now, this.options.leaseMs, fence)) : [];
    this.waiting.clear();
    for (const w of plan.waiting) this.waiting.set(w.jobId, w.reason);
    this.controlPlane.dispatch(assigned);
    this.metrics.schedulerLoop.observe((performance.now() - t0) / 1000);
    this.lastPassAt = now;

    this.saturated = plan.slotsLeft === 0 && plan.waiting.length > 0;
    const full = queued.length >= limit;
    this.unread = full;
    if (!full) return false;
    const start = startWindow(nodes, this.options.batchSize);
    if (plan.placements.length === queued.length || plan.slotsLeft > 0) {
      if (limit >= this.options.batchSize) return plan.placements.length >= limit;
      this.window = Math.min(this.options.batchSize, Math.max(start, limit * 4));
      return true;
    }
    this.window = start;
    return false;
  }
}

/** Twice the run slots of the schedulable nodes, within [MIN_WINDOW, batchSize]. */
function startWindow(nodes: readonly NodeCapacity[], batchSize: number): number {
  let slots = 0;
  for (const n of nodes) if (n.schedulable) slots += n.slotsTotal;
  return Math.max(MIN_WINDOW, Math.min(batchSize, 2 * slots));
}
