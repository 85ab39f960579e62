import { killAttemptProcesses, type MarkedProcess } from './process-tree.js';

/**
 * Finds the processes that outlive an attempt which ended by itself.
 *
 * When a job's leader exits, the executor SIGKILLs its process group, which
 * takes every background child that stayed in the group. A descendant that
 * left the group (setsid, a daemon) is only found by its attempt marker
 * (GPUQ_ATTEMPT_KEY) in /proc, and a /proc scan costs far more than running a short job,
 * so it is not done per attempt: the attempts that ended within SWEEP_DELAY_MS
 * share one scan, after which their escapees are SIGKILLed and reported. Such
 * a process outlives its attempt by at most about that delay. (Timeout and
 * cancel scan at once, before the attempt is reported ended.)
 */

export const SWEEP_DELAY_MS = 1000;

export type OrphansKilled = (killed: MarkedProcess[]) => void;

export class OrphanSweep {
  /** Markers (process-tree.ts) of attempts that ended since the last sweep. */
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly onKilled: OrphansKilled = () => {}) {}

  /** Schedules a scan for processes left behind by the attempt with this marker. */
  add(marker: string): void {
    this.pending.add(marker);
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.running.then(() => this.sweep());
    }, SWEEP_DELAY_MS);
    // Never what keeps a process alive: a launcher lives as long as its agent, and gpuq's restart scan catches what is left.
    this.timer.unref();
  }

  private async sweep(): Promise<void> {
    const markers = [...this.pending];
    this.pending.clear();
    try {
      const killed = await killAttemptProcesses(markers);
      if (killed.length > 0) this.onKilled(killed);
    } catch {
      // /proc unreadable: nothing to do but wait for the next sweep or the restart scan.
    }
  }
}
