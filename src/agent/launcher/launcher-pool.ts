import type { Logger } from 'pino';
import type { RunningAttempt } from '../executor.js';
import { ProcessLauncher } from './launcher.js';
import type { AttemptLauncher, LaunchRequest } from './protocol.js';

/**
 * Several launcher processes behind one AttemptLauncher. Each attempt goes to
 * the launcher running the fewest attempts (ties: the next in turn), and
 * stays with it: its kill and its end travel through that launcher. A
 * launcher that dies is replaced on its own (see ProcessLauncher); the others
 * carry on.
 *
 * Why more than one: a spawn blocks the process that makes it until the child
 * has exec'd (libuv waits on a pipe for the exec to succeed), and a launcher
 * does its other work (logs, reaping, messages) between spawns, so one launcher
 * leaves the machine's other cores idle while it forks. Measured on 2 cores,
 * 2,000 /bin/true jobs through the server: one launcher left ~1.3 ms of idle
 * CPU per job; two cut it to ~0.4 ms and ran ~20% more jobs per second.
 */
export class LauncherPool implements AttemptLauncher {
  private next = 0;

  private constructor(private readonly launchers: readonly ProcessLauncher[]) {}

  /** Starts `size` launcher processes (at least 1) and waits until all are ready. */
  static async start(size: number, log: Logger): Promise<LauncherPool> {
    const n = Math.max(1, Math.floor(size));
    const launchers = await Promise.all(Array.from({ length: n }, (_, i) => ProcessLauncher.start(n === 1 ? log : log.child({ launcher: i }))));
    return new LauncherPool(launchers);
  }

  get size(): number {
    return this.launchers.length;
  }

  startAttempt(req: LaunchRequest): RunningAttempt {
    const n = this.launchers.length;
    let best = this.launchers[this.next % n]!;
    for (let i = 1; i < n; i++) {
      const l = this.launchers[(this.next + i) % n]!;
      if (l.running < best.running) best = l;
    }
    this.next = (this.launchers.indexOf(best) + 1) % n;
    return best.startAttempt(req);
  }

  /** Stops every launcher: their attempts are killed and end as failed (retryable). */
  async stop(): Promise<void> {
    await Promise.all(this.launchers.map((l) => l.stop()));
  }
}

/**
 * The default number of launcher processes: one per CPU core, at most 4. Each
 * costs ~20 MB of private memory; past a few, spawning is no longer what limits
 * how fast jobs start.
 */
export function defaultLauncherCount(cpuCores: number): number {
  return Math.max(1, Math.min(4, Math.floor(cpuCores)));
}
