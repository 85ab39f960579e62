import type { FeedEvent } from '../../src/core/feed-events.js';
import { parseSse } from '../../src/sdk/sse.js';

/**
 * The dashboard's one connection to the event feed (GET /v1/events), shared by every page: read with fetch()
 * (so the bearer token can be sent; EventSource cannot) and parsed by the SDK's parser (src/sdk/sse.ts). When the stream ends or fails it reconnects
 * with `after=` the last id seen, so no event is missed or seen twice; the first connection starts at the
 * feed's current end. Each (re)connection is announced (`open`): pages then read what they show again, which
 * covers whatever changed while no stream was open.
 */

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'stopped';

export type LiveSignal = { kind: 'event'; event: FeedEvent } | { kind: 'open' } | { kind: 'resync'; reason: string };

export type LiveListener = (signal: LiveSignal) => void;

export interface LiveOptions {
  /** Headers of every request (the Authorization header). */
  headers: () => Record<string, string>;
  /** The server refused the token (401): the session is over. */
  onUnauthorized: () => void;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

export class LiveFeed {
  private readonly listeners = new Set<LiveListener>();
  private readonly statusListeners = new Set<() => void>();
  private abort: AbortController | null = null;
  private lastId: number | null = null;
  status: LiveStatus = 'stopped';
  /** Why the last connection failed, while reconnecting. */
  problem: string | null = null;
  /** Events received since the page loaded. */
  received = 0;

  constructor(private readonly options: LiveOptions) {}

  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: () => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  start(): void {
    if (this.abort) return;
    this.abort = new AbortController();
    void this.run(this.abort.signal);
  }

  stop(): void {
    this.abort?.abort();
    this.abort = null;
    this.setStatus('stopped', null);
  }

  private setStatus(status: LiveStatus, problem: string | null): void {
    this.status = status;
    this.problem = problem;
    for (const l of this.statusListeners) l();
  }

  private emit(signal: LiveSignal): void {
    for (const l of [...this.listeners]) {
      try {
        l(signal);
      } catch (e) {
        console.error('live listener failed', e);
      }
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    let retryMs = RETRY_MIN_MS;
    while (!signal.aborted) {
      this.setStatus(this.lastId === null && this.received === 0 ? 'connecting' : 'reconnecting', this.problem);
      try {
        const url = this.lastId === null ? '/v1/events' : `/v1/events?after=${this.lastId}`;
        const res = await fetch(url, { headers: { ...this.options.headers(), accept: 'text/event-stream' }, signal, cache: 'no-store' });
        if (res.status === 401) {
          this.options.onUnauthorized();
          this.setStatus('stopped', 'the token was refused');
          return;
        }
        if (res.status === 400 && this.lastId !== null) {
          // The id to resume after is unknown to the server (a new store behind the same URL): start again at its head.
          this.lastId = null;
          throw new Error('the server did not know the last event id; reading everything again');
        }
        if (!res.ok || !res.body) throw new Error(`GET /v1/events answered ${res.status}`);
        retryMs = RETRY_MIN_MS;
        this.setStatus('live', null);
        this.emit({ kind: 'open' });
        await this.read(res.body, signal);
        if (!signal.aborted) this.problem = 'the server closed the stream';
      } catch (e) {
        if (signal.aborted) return;
        this.problem = e instanceof Error ? e.message : String(e);
      }
      if (signal.aborted) return;
      this.setStatus('reconnecting', this.problem);
      await sleep(retryMs, signal);
      retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
    }
  }

  private async read(body: ReadableStream<Uint8Array>, signal: AbortSignal): Promise<void> {
    for await (const m of parseSse(textOf(body, signal))) {
      // Where to resume: the last id the stream set, also one sent without an event (where the stream starts).
      if (m.id !== undefined && /^[0-9]+$/.test(m.id)) this.lastId = Number(m.id);
      if (m.data === null) continue;
      if (m.event === 'resync') {
        const info = JSON.parse(m.data) as { reason?: string };
        this.emit({ kind: 'resync', reason: info.reason ?? 'events were missed' });
        continue;
      }
      this.received++;
      this.emit({ kind: 'event', event: JSON.parse(m.data) as FeedEvent });
    }
  }
}

/** A response body as decoded text chunks; reading stops when `signal` aborts. */
async function* textOf(body: ReadableStream<Uint8Array>, signal: AbortSignal): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const cancel = () => void reader.cancel().catch(() => {});
  signal.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield decoder.decode(value, { stream: true });
    }
  } finally {
    signal.removeEventListener('abort', cancel);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
