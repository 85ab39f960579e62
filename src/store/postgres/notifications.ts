import pg from 'pg';
import type { StoreEvent, StoreEventListener, Subscription } from '../store-events.js';
import { connectionConfig, type Sql } from './postgres-pool.js';

/**
 * Store events (store-events.ts) over LISTEN/NOTIFY, so every server sharing
 * the database hears every server's committed writes within a round trip.
 *
 * One channel per schema (several installations may share a database). A
 * dedicated connection LISTENs while anyone is subscribed; if it breaks it is
 * reopened with backoff, and listeners get `resync`, since NOTIFYs sent while
 * it was down are lost. Publishing is a NOTIFY after the write committed; a
 * server that dies between the two loses that hint, which the readers' own
 * periodic checks cover.
 */

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class PgNotifications {
  private readonly listeners = new Set<StoreEventListener>();
  private client: pg.Client | null = null;
  /** Resolves when the current connection LISTENs (replaced on each reconnect). */
  private listening: Promise<void> | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly db: Sql,
    private readonly url: string,
    private readonly schema: string | undefined,
    private readonly channel: string,
  ) {}

  publish(event: StoreEvent): void {
    for (const payload of notifyPayloads(event)) {
      void this.db.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch(() => {
        // A hint lost: listeners recheck on their own period.
      });
    }
  }

  subscribe(listener: StoreEventListener): Subscription {
    this.listeners.add(listener);
    if (this.client === null && this.retryTimer === null) {
      this.listening = this.connect();
      this.listening.catch(() => {});
    }
    return {
      ready: this.untilListening(),
      unsubscribe: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0) void this.disconnect();
      },
    };
  }

  /** Resolves once a connection LISTENs, through reconnects. */
  private async untilListening(): Promise<void> {
    while (!this.closed && this.listeners.size > 0) {
      const attempt = this.listening;
      if (attempt !== null && (await attempt.then(() => true, () => false))) return;
      await new Promise((r) => setTimeout(r, RETRY_MIN_MS));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.disconnect();
  }

  /** Opens the LISTEN connection; rejects (after scheduling a retry) when it cannot. */
  private async connect(): Promise<void> {
    if (this.closed || this.listeners.size === 0) return;
    const client = new pg.Client({ ...connectionConfig(this.url, this.schema), application_name: 'gpuq-listen' });
    client.on('notification', (n) => {
      if (n.channel !== this.channel || n.payload === undefined) return;
      let event: StoreEvent;
      try {
        event = JSON.parse(n.payload) as StoreEvent;
      } catch {
        return;
      }
      this.emit(event);
    });
    client.on('error', () => this.reconnect(client));
    client.on('end', () => this.reconnect(client));
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
      // Anything announced before this point (or while a previous connection was down) was not heard.
      if (this.retryMs > RETRY_MIN_MS) this.emit({ type: 'resync' });
      this.retryMs = RETRY_MIN_MS;
    } catch (err) {
      this.reconnect(client);
      throw err;
    }
  }

  private reconnect(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = null;
    void client.end().catch(() => {});
    if (this.closed || this.listeners.size === 0 || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.listening = this.connect();
      this.listening.catch(() => {});
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  private async disconnect(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    if (client) await client.end().catch(() => {});
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; kept well under it. */
export const MAX_NOTIFY_BYTES = 7000;

/**
 * An event as NOTIFY payloads: its JSON, or, for an event naming more pools than fit in one payload (a sweep that
 * redelivered tasks of many pools), one payload per slice of its pools. Every listener hears the same pools either way.
 */
export function notifyPayloads(event: StoreEvent): string[] {
  const whole = JSON.stringify(event);
  if (Buffer.byteLength(whole) <= MAX_NOTIFY_BYTES || !('pools' in event)) return [whole];
  // The tasks that ended are a hint: without it, listeners read every task they wait for.
  if (event.type === 'pool-results' && event.tasks !== undefined) return notifyPayloads({ type: 'pool-results', pools: event.pools });
  const payloads: string[] = [];
  let slice: string[] = [];
  // Pool names are at most 63 ASCII characters: a slice of 64 names stays far under the limit.
  for (const pool of event.pools) {
    slice.push(pool);
    if (slice.length === 64) {
      payloads.push(JSON.stringify({ ...event, pools: slice }));
      slice = [];
    }
  }
  if (slice.length > 0) payloads.push(JSON.stringify({ ...event, pools: slice }));
  return payloads;
}
