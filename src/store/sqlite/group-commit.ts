import type { Database } from 'better-sqlite3';

/**
 * Group commit for the SQLite store.
 *
 * A commit in WAL mode writes every page the transaction dirtied; a one-job
 * submit dirties about ten pages, and the commit costs far more than the
 * inserts (~110 µs against ~10 µs). The HTTP layer calls the store once per
 * request, so under load many calls arrive within one turn of the event loop.
 * The queue collects them and runs them, in arrival order, in one transaction
 * on the next `setImmediate`: each call inside its own SAVEPOINT, so a call
 * that throws is rolled back alone and rejects alone, while the others commit
 * together. Every promise settles only after the COMMIT, so "resolved means
 * durable" still holds, and each call is still atomic and sees the effects of
 * the calls queued before it, exactly as if they had run one after another.
 *
 * Reads skip the queue when it is empty (nothing queued can change what they
 * see) and otherwise wait their turn, so a read issued after a write sees it.
 */
export class GroupCommitQueue {
  private pending: QueuedCall[] = [];
  private scheduled = false;
  private readonly runGroup: (calls: QueuedCall[]) => Settled[];
  private readonly runRead: (fn: () => unknown) => unknown;

  constructor(
    db: Database,
    /** Turns a database error into the error callers see. */
    private readonly mapError: (err: unknown) => unknown,
  ) {
    const inSavepoint = db.transaction((fn: () => unknown) => fn());
    this.runGroup = (calls) => {
      const group = db.transaction((): Settled[] => {
        // A lone call needs no savepoint: if it throws, the whole transaction is rolled back, which is the same thing.
        if (calls.length === 1) return [{ ok: true, value: calls[0]!.fn() }];
        return calls.map((call): Settled => {
          try {
            return { ok: true, value: inSavepoint(call.fn) };
          } catch (error) {
            return { ok: false, error };
          }
        });
      });
      return group.immediate();
    };
    const read = db.transaction((fn: () => unknown) => fn());
    this.runRead = (fn) => read.deferred(fn);
  }

  /** Queues a call that writes; it commits with the other calls queued in this turn of the event loop. */
  write<R>(fn: () => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Runs a read in its own read transaction now, or after the calls already queued. */
  read<R>(fn: () => R): Promise<R> {
    if (this.pending.length > 0) return this.write(fn);
    try {
      return Promise.resolve(this.runRead(fn) as R);
    } catch (err) {
      return Promise.reject(this.mapError(err));
    }
  }

  /** Runs whatever is queued now, without waiting for the scheduled turn (before closing the database). */
  flush(): void {
    this.scheduled = false;
    const calls = this.pending;
    if (calls.length === 0) return;
    this.pending = [];
    let settled: Settled[];
    try {
      settled = this.runGroup(calls);
    } catch (err) {
      // BEGIN or COMMIT failed, or a lone call threw: nothing of the group was committed.
      const error = this.mapError(err);
      for (const call of calls) call.reject(error);
      return;
    }
    calls.forEach((call, i) => {
      const s = settled[i]!;
      if (s.ok) call.resolve(s.value);
      else call.reject(this.mapError(s.error));
    });
  }
}

interface QueuedCall {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };
