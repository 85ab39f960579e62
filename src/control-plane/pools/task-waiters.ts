import type { PoolTask } from '../../core/pool-spec.js';

/**
 * Callers waiting on a pool's tasks, woken by the store's events (store-events.ts) instead of polling:
 * replica hosts long-polling for work wait for `pool-tasks`, callers waiting for results for `pool-results`.
 *
 * Work waiters use a counter per pool, bumped on every `pool-tasks`: a host reads the counter, claims, and
 * if it found nothing waits only while the counter is unchanged, so a submit that lands between its claim
 * and its wait is never missed.
 *
 * Result waiters of a pool are checked together: one read per event of the tasks they still wait for, however
 * many callers wait. A task read final is kept by its waiter and not read again (a caller waiting for 5,000
 * tasks does not read all 5,000 at every batch of results).
 */
export class TaskWaiters {
  private readonly work = new Map<string, { seq: number; wakers: Set<() => void> }>();
  private readonly results = new Map<string, Set<ResultWaiter>>();
  /** Per pool, the tasks said to have ended since its last check ('all': some event did not say which). */
  private readonly ended = new Map<string, Set<number> | 'all'>();
  private closed = false;

  constructor(private readonly readTasks: (pool: string, ids: number[]) => Promise<PoolTask[]>) {}

  /** The pool's work counter: pass it to waitForWork after a claim that found nothing. */
  workSeq(pool: string): number {
    return this.workOf(pool).seq;
  }

  /** Resolves when the pool may have new work since `seq`, after `ms`, or at close. */
  waitForWork(pool: string, seq: number, ms: number): Promise<void> {
    const w = this.workOf(pool);
    if (w.seq !== seq || this.closed || ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        w.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      w.wakers.add(done);
    });
  }

  /** Tasks of these pools may be claimable (null: any pool), or a replica was asked to stop: wake their hosts. */
  workChanged(pools: string[] | null): void {
    const targets = pools === null ? [...this.work.values()] : pools.map((p) => this.work.get(p)).filter((w) => w !== undefined);
    for (const w of targets) {
      w.seq++;
      for (const wake of [...w.wakers]) wake();
    }
  }

  /**
   * The tasks once every one of them is final (succeeded, failed, cancelled), or as they are after `ms`.
   * Registered before its first read, so a result that lands meanwhile is seen by the read or the next check.
   */
  async waitForResults(pool: string, ids: number[], ms: number): Promise<PoolTask[]> {
    let waiter: ResultWaiter | undefined;
    const result = new Promise<PoolTask[] | null>((resolve) => {
      waiter = { ids, pending: new Set(ids), final: new Map(), resolve, timer: setTimeout(() => resolve(null), ms) };
    });
    const set = this.results.get(pool) ?? new Set();
    this.results.set(pool, set);
    set.add(waiter!);
    try {
      const first = await this.readTasks(pool, ids);
      if (allFinal(first, ids.length) || ms <= 0 || this.closed) return first;
      settle(waiter!, first);
      return (await result) ?? (await this.readTasks(pool, ids));
    } finally {
      clearTimeout(waiter!.timer);
      set.delete(waiter!);
      if (set.size === 0) this.results.delete(pool);
    }
  }

  /** Tasks of these pools ended (null: any pool; `tasks`: these, when known): their waiters read again, once per pool. */
  resultsChanged(pools: string[] | null, tasks?: number[]): void {
    for (const pool of pools ?? [...this.results.keys()]) {
      if (!this.results.has(pool)) continue;
      const seen = this.ended.get(pool);
      if (seen === undefined) {
        // Events of one turn are gathered: one read per pool however many results landed.
        setImmediate(() => void this.check(pool));
      }
      if (tasks === undefined || pools === null || seen === 'all') this.ended.set(pool, 'all');
      else {
        const set = seen ?? new Set<number>();
        for (const id of tasks) set.add(id);
        this.ended.set(pool, set);
      }
    }
  }

  /** Wakes every waiter: the server is closing. */
  close(): void {
    this.closed = true;
    this.workChanged(null);
    for (const set of this.results.values()) for (const w of set) w.resolve(null);
  }

  private workOf(pool: string): { seq: number; wakers: Set<() => void> } {
    let w = this.work.get(pool);
    if (!w) {
      w = { seq: 0, wakers: new Set() };
      this.work.set(pool, w);
    }
    return w;
  }

  private async check(pool: string): Promise<void> {
    const ended = this.ended.get(pool);
    this.ended.delete(pool);
    const set = this.results.get(pool);
    if (!set || set.size === 0 || ended === undefined) return;
    const waiters = [...set];
    // Only tasks still pending, and of those only the ones said to have ended when the events said which.
    const ids = [...new Set(waiters.flatMap((w) => [...w.pending]))].filter((id) => ended === 'all' || ended.has(id));
    if (ids.length === 0) return;
    let tasks: PoolTask[];
    try {
      tasks = await this.readTasks(pool, ids);
    } catch {
      return; // The store is unreachable: each waiter's own timer answers it.
    }
    for (const w of waiters) settle(w, tasks);
  }
}

interface ResultWaiter {
  ids: number[];
  /** Tasks not read final yet. */
  pending: Set<number>;
  /** Tasks read final (a final task does not change). */
  final: Map<number, PoolTask>;
  resolve: (tasks: PoolTask[] | null) => void;
  timer: NodeJS.Timeout;
}

/** Takes what is final among `tasks` into the waiter; resolves it once none of its tasks is pending. */
function settle(w: ResultWaiter, tasks: PoolTask[]): void {
  for (const t of tasks) {
    if (!w.pending.has(t.id) || !FINAL.has(t.state)) continue;
    w.pending.delete(t.id);
    w.final.set(t.id, t);
  }
  if (w.pending.size === 0) w.resolve(w.ids.map((id) => w.final.get(id)!));
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

function allFinal(tasks: PoolTask[], expected: number): boolean {
  return tasks.length === expected && tasks.every((t) => FINAL.has(t.state));
}
