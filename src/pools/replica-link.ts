import type { ExchangeResponse, HostEndReason, TaskOutcome } from './protocol.js';

/** One exchange as the replica host asks for it; the link adds the attempt's id (protocol.ts ExchangeRequest). */
export interface ExchangeCall {
  results: TaskOutcome[];
  /**
   * Ids of the tasks the host holds as the call leaves: in the worker, or answered with the result still buffered
   * (not in `results`). Tasks of this attempt the server runs and this does not list are handed back (a lost answer).
   */
  held: number[];
  /** Tasks to claim: 0..POOL_LIMITS.maxClaim. */
  want: number;
  /** How long the server may wait for a task when none is ready; 0: answer at once. */
  waitMs: number;
}

/** The control plane as the replica host sees it: host-link.ts over HTTP; in tests, an in-process queue. */
export interface ReplicaLink {
  ready(): Promise<'ok' | 'gone'>;
  /** Rejects when the control plane cannot be reached for the link's retry window, or refuses; with AbortError when `signal` aborts. */
  exchange(call: ExchangeCall, signal?: AbortSignal): Promise<ExchangeResponse | 'gone'>;
  end(reason: HostEndReason, detail: string | null): Promise<void>;
}
