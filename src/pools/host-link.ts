import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import { decodeExchangeResponse, replicaPath, type ExchangeResponse, type HostEndReason } from './protocol.js';
import type { ExchangeCall, ReplicaLink } from './replica-link.js';

/**
 * The replica host's link to the control plane over HTTP (protocol.ts): POST ready, exchange and end for one
 * replica attempt, with the attempt's pool credential as the bearer token.
 *
 * Failures: a request that does not get through (no connection, a timeout, a 5xx answer) moves on to the next
 * base URL listed and is tried again, with a backoff after each round of all of them, until `retryForMs` has
 * passed since its first failure; then it rejects with ControlPlaneUnreachableError. A 410 answers 'gone' (the
 * attempt is no longer the replica's live one). Any other 4xx rejects with ControlPlaneRefusedError: a request
 * the server will never accept.
 */

export class ControlPlaneUnreachableError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`cannot reach the gpuq control plane: ${detail}`, options);
    this.name = 'ControlPlaneUnreachableError';
  }
}

export class ControlPlaneRefusedError extends Error {
  constructor(
    readonly status: number,
    /** The API's error code (docs/errors.md). */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlPlaneRefusedError';
  }
}

export interface HttpReplicaLinkOptions {
  /** Base URLs of the control plane's servers, tried in order. */
  urls: string[];
  credential: string;
  pool: string;
  jobId: number;
  attemptId: number;
  clock: Clock;
  /** How long a request is retried after its first failure. @default 30000 */
  retryForMs?: number;
  /** How long an end report is retried: the host is exiting, and its exit status says the same. @default 10000 */
  endRetryForMs?: number;
  /** One request's time limit, on top of a long-poll's wait. @default 10000 */
  requestTimeoutMs?: number;
  /** Backoff between rounds of the URLs. @default { initialMs: 100, maxMs: 2000 } */
  backoff?: { initialMs: number; maxMs: number };
  /** A diagnostic line (a failover, a retry). */
  log?: (line: string) => void;
}

type Answer<T> = { ok: true; body: T } | { ok: false; gone: true };

export class HttpReplicaLink implements ReplicaLink {
  private current = 0;
  private readonly headers: Record<string, string>;

  constructor(private readonly o: HttpReplicaLinkOptions) {
    if (o.urls.length === 0) throw new Error('the replica link needs at least one control-plane URL');
    this.headers = { authorization: `Bearer ${o.credential}`, 'content-type': 'application/json' };
  }

  async ready(): Promise<'ok' | 'gone'> {
    const a = await this.post('ready', JSON.stringify({ attemptId: this.o.attemptId }), 0, this.o.retryForMs ?? 30_000);
    return a.ok ? 'ok' : 'gone';
  }

  async exchange(call: ExchangeCall, signal?: AbortSignal): Promise<ExchangeResponse | 'gone'> {
    // One body for every try: a retry after a lost answer lists what the host held when the call left, which is still
    // all it holds (only an answer brings tasks in, and the host makes one call at a time).
    const body = JSON.stringify({ attemptId: this.o.attemptId, results: call.results, held: call.held, want: call.want, waitMs: call.waitMs });
    const a = await this.post<unknown>('exchange', body, call.waitMs, this.o.retryForMs ?? 30_000, signal);
    if (!a.ok) return 'gone';
    const answer = decodeExchangeResponse(a.body);
    if (typeof answer !== 'string') return answer;
    throw new ControlPlaneRefusedError(200, 'MALFORMED_RESPONSE', `the control plane's exchange answer is not one the host understands: ${answer}`);
  }

  async end(reason: HostEndReason, detail: string | null): Promise<void> {
    await this.post('end', JSON.stringify({ attemptId: this.o.attemptId, reason, detail }), 0, this.o.endRetryForMs ?? 10_000);
  }

  private async post<T>(endpoint: 'ready' | 'exchange' | 'end', body: string, waitMs: number, retryForMs: number, signal?: AbortSignal): Promise<Answer<T>> {
    const path = replicaPath(this.o.pool, this.o.jobId, endpoint);
    const { urls } = this.o;
    let firstFailure: number | null = null;
    let pause = this.o.backoff?.initialMs ?? 100;
    for (let tries = 1; ; tries++) {
      const base = urls[this.current]!;
      const failure = await this.attempt<T>(base + path, body, waitMs, signal);
      if (typeof failure !== 'string') return failure;
      const now = this.o.clock.now();
      firstFailure ??= now;
      if (urls.length > 1) this.current = (this.current + 1) % urls.length;
      if (now - firstFailure >= retryForMs) throw new ControlPlaneUnreachableError(`${endpoint} failed for ${Math.round(now - firstFailure)} ms; last: ${base}: ${failure}`);
      this.o.log?.(`${endpoint} to ${base} failed (${failure}); ${urls.length > 1 ? `trying ${urls[this.current]}` : 'retrying'}`);
      // A round of every URL before each pause: a second server is tried at once.
      if (tries % urls.length === 0) {
        await delay(pause, undefined, signal ? { signal } : undefined);
        pause = Math.min(pause * 2, this.o.backoff?.maxMs ?? 2000);
      }
    }
  }

  /** One request: the answer, or why it did not get through (worth another try). */
  private async attempt<T>(url: string, body: string, waitMs: number, signal?: AbortSignal): Promise<Answer<T> | string> {
    const timeout = AbortSignal.timeout(waitMs + (this.o.requestTimeoutMs ?? 10_000));
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, { method: 'POST', headers: this.headers, body, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      return err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    }
    if (res.status >= 500) return `HTTP ${res.status} ${errorOf(text)?.message ?? ''}`.trim();
    if (res.status === 410) return { ok: false, gone: true };
    if (!res.ok) {
      const e = errorOf(text);
      throw new ControlPlaneRefusedError(res.status, e?.code ?? `HTTP_${res.status}`, `the control plane refused ${new URL(url).pathname}: HTTP ${res.status} ${e?.message ?? text.slice(0, 500)}`);
    }
    try {
      return { ok: true, body: JSON.parse(text) as T };
    } catch {
      throw new ControlPlaneRefusedError(res.status, 'MALFORMED_RESPONSE', `the control plane answered ${new URL(url).pathname} with something other than JSON: ${text.slice(0, 200)}`);
    }
  }
}

function errorOf(text: string): { code?: string; message?: string } | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
  } catch {
    return undefined;
  }
}
