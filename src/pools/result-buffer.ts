import { POOL_LIMITS } from '../core/pool-limits.js';
import type { TaskOutcome } from './protocol.js';

/** An exchange carries at most about this many characters of results; the rest go in the next one. */
const MAX_RESULT_CHARS_PER_EXCHANGE = 4 * 1024 * 1024;

/**
 * Task outcomes waiting to be posted, oldest first, each with its size in characters (from the worker's
 * line: no serializing to measure it). An exchange takes at most POOL_LIMITS.maxClaim of them and about
 * MAX_RESULT_CHARS_PER_EXCHANGE (at least one), so a request stays well inside the server's body limit.
 */
export class ResultBuffer {
  private outcomes: TaskOutcome[] = [];
  private sizes: number[] = [];

  get length(): number {
    return this.outcomes.length;
  }

  push(outcome: TaskOutcome, chars: number): void {
    this.outcomes.push(outcome);
    this.sizes.push(chars);
  }

  take(): { results: TaskOutcome[]; chars: number[] } {
    let n = 0;
    let size = 0;
    const max = Math.min(this.outcomes.length, POOL_LIMITS.maxClaim);
    while (n < max && (n === 0 || size + this.sizes[n]! <= MAX_RESULT_CHARS_PER_EXCHANGE)) size += this.sizes[n++]!;
    if (n === this.outcomes.length) {
      const taken = { results: this.outcomes, chars: this.sizes };
      this.outcomes = [];
      this.sizes = [];
      return taken;
    }
    return { results: this.outcomes.splice(0, n), chars: this.sizes.splice(0, n) };
  }

  /** The tasks of the outcomes waiting (a task answered twice, at two attempts, is listed twice). */
  taskIds(): number[] {
    return this.outcomes.map((o) => o.taskId);
  }

  /** Puts back what an exchange took and did not get acknowledged, ahead of the rest. */
  putBack(taken: { results: TaskOutcome[]; chars: number[] }): void {
    this.outcomes = taken.results.concat(this.outcomes);
    this.sizes = taken.chars.concat(this.sizes);
  }
}
