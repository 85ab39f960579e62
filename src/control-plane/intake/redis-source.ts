import { Redis } from 'ioredis';
import type { RedisSourceConfig } from '../../core/intake-config.js';
import { deadLetterKind, type Delivery } from './intake-batch.js';
import { decideDeliveries, type IntakeSource, type SourceContext } from './intake-source.js';

type Entry = [id: string, fields: string[] | null];

/**
 * A Redis Streams source (ADR 0017): one consumer in a consumer group. Each loop turn reads a batch (XREADGROUP),
 * stores its jobs in one transaction, then acknowledges (XACK) what was stored and what was dead-lettered (XADD to
 * the dead-letter stream with the reason and the original fields first). What was not stored (the store is down)
 * stays pending: it is read again from this consumer's pending list after a restart or a resume, and claimed
 * (XAUTOCLAIM) once idle for claimIdleMs; its delivery count grows each time, and at maxDeliveries it is
 * dead-lettered. A read that returns while intake is paused is left pending, unprocessed, for the same reasons.
 */
export class RedisSource implements IntakeSource {
  readonly name: string;
  private reader: Redis | null = null;
  private writer: Redis | null = null;
  private loop: Promise<void> | null = null;
  private running = false;
  private counts = { received: 0, acked: 0, deadLettered: 0 };
  private pending: number | null = null;
  private lag: number | null = null;
  private lastError: string | null = null;
  private failing = false;

  constructor(private readonly config: RedisSourceConfig) {
    this.name = config.name;
  }

  start(ctx: SourceContext): void {
    if (this.running) return;
    this.running = true;
    const options = { lazyConnect: false, maxRetriesPerRequest: 1, enableOfflineQueue: true, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
    this.reader = new Redis(this.config.url, { ...options, connectionName: `gpuq-intake-${this.name}` });
    this.writer = new Redis(this.config.url, options);
    for (const c of [this.reader, this.writer]) c.on('error', (err: Error) => (this.lastError = err.message));
    this.loop = this.run(ctx);
  }

  async stop(): Promise<void> {
    this.running = false;
    // The blocking read ends when its connection does.
    this.reader?.disconnect();
    await this.loop?.catch(() => {});
    this.writer?.disconnect();
    this.loop = null;
  }

  status() {
    const c = this.config;
    return { name: this.name, kind: 'redis' as const, from: `${c.stream} (group ${c.group})`, deadLetter: c.deadLetterStream, ...this.counts, pending: this.pending, lag: this.lag, lastError: this.lastError, running: this.running, failing: this.failing };
  }

  private async run(ctx: SourceContext): Promise<void> {
    const c = this.config;
    let groupReady = false;
    /** Read this consumer's own pending entries (left by a crash, a pause or a failed store) before new ones. */
    let pendingFrom: string | null = '0';
    let lastClaim = Date.now();
    let lastStats = 0;
    while (this.running) {
      try {
        if (!groupReady) {
          await this.ensureGroup();
          groupReady = true;
        }
        if (Date.now() - lastStats >= 1000) {
          lastStats = Date.now();
          await this.readStats(ctx);
        }
        if (!ctx.consuming()) {
          ctx.metrics.paused.set({ source: this.name }, 1);
          pendingFrom = '0';
          await ctx.waitForChange(250);
          continue;
        }
        ctx.metrics.paused.set({ source: this.name }, 0);
        if (pendingFrom !== null) {
          const entries = await this.read(pendingFrom, false);
          if (entries.length === 0) pendingFrom = null;
          else {
            pendingFrom = entries[entries.length - 1]![0];
            const stored = await this.handle(ctx, entries, await this.deliveryCounts(entries));
            if (!stored) pendingFrom = null; // the store fails: leave them to XAUTOCLAIM after claimIdleMs
          }
          this.failing = false;
          continue;
        }
        if (Date.now() - lastClaim >= Math.min(c.claimIdleMs, 5000)) {
          lastClaim = Date.now();
          const claimed = await this.autoclaim();
          if (claimed.length > 0) {
            await this.handle(ctx, claimed, await this.deliveryCounts(claimed));
            continue;
          }
        }
        const entries = await this.read('>', true);
        // Paused while the read blocked: leave what came pending, unprocessed; it is read again on resume.
        if (!ctx.consuming() || !this.running) continue;
        if (entries.length > 0) await this.handle(ctx, entries, new Map());
        this.failing = false;
      } catch (err) {
        if (!this.running) break;
        this.failing = true;
        this.lastError = err instanceof Error ? err.message : String(err);
        if (/NOGROUP/.test(this.lastError)) groupReady = false;
        ctx.log.warn({ err, source: this.name }, 'intake from Redis failed; trying again');
        pendingFrom = '0';
        await ctx.waitForChange(1000);
      }
    }
  }

  private async ensureGroup(): Promise<void> {
    const c = this.config;
    try {
      await this.writer!.xgroup('CREATE', c.stream, c.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error && err.message.includes('BUSYGROUP'))) throw err;
    }
  }

  private async read(from: string, block: boolean): Promise<Entry[]> {
    const c = this.config;
    const args: (string | number)[] = ['GROUP', c.group, c.consumer, 'COUNT', c.batchSize];
    if (block) args.push('BLOCK', c.blockMs);
    args.push('STREAMS', c.stream, from);
    const reply = (await this.reader!.call('XREADGROUP', ...args)) as [string, Entry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** Claims entries of the group idle for claimIdleMs (a dead reader's, or ours whose store failed). */
  private async autoclaim(): Promise<Entry[]> {
    const c = this.config;
    const reply = (await this.writer!.call('XAUTOCLAIM', c.stream, c.group, c.consumer, c.claimIdleMs, '0', 'COUNT', c.batchSize)) as [string, Entry[], string[]?];
    return reply[1].filter((e) => e !== null);
  }

  /** Delivery counts of entries read again, from the group's pending list. */
  private async deliveryCounts(entries: Entry[]): Promise<Map<string, number>> {
    const c = this.config;
    const first = entries[0]![0];
    const last = entries[entries.length - 1]![0];
    const rows = (await this.writer!.call('XPENDING', c.stream, c.group, first, last, entries.length * 2, c.consumer)) as [string, string, number, number][];
    return new Map(rows.map((r) => [r[0], Number(r[3])]));
  }

  /** Returns false when some entry was left for another delivery (its job could not be stored). */
  private async handle(ctx: SourceContext, entries: Entry[], counts: Map<string, number>): Promise<boolean> {
    const c = this.config;
    const deliveries: Delivery[] = entries.map(([id, fields]) => ({ origin: { source: this.name, broker: 'redis', stream: c.stream, messageId: id }, body: fieldOf(fields, c.field), deliveries: counts.get(id) ?? 1 }));
    this.counts.received += entries.length;
    ctx.metrics.received.inc({ source: this.name }, entries.length);
    const decisions = await decideDeliveries(c, c.field, ctx, deliveries);
    const ack: string[] = [];
    const multi = this.writer!.multi();
    let dead = 0;
    decisions.forEach((d, i) => {
      const [id, fields] = entries[i]!;
      if (d.action === 'retry') return;
      ack.push(id);
      if (d.action === 'dead-letter') {
        dead++;
        ctx.metrics.deadLettered.inc({ source: this.name, reason: deadLetterKind(d.reason) });
        ctx.log.warn({ source: this.name, messageId: id, reason: d.reason }, 'intake message dead-lettered');
        multi.xadd(c.deadLetterStream, '*', 'reason', d.reason, 'source', this.name, 'stream', c.stream, 'id', id, 'deliveries', String(deliveries[i]!.deliveries), ...(fields ?? []));
      }
    });
    if (ack.length > 0) {
      multi.xack(c.stream, c.group, ...ack);
      const results = await multi.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
      this.counts.acked += ack.length - dead;
      this.counts.deadLettered += dead;
      ctx.metrics.acked.inc({ source: this.name }, ack.length - dead);
    } else multi.discard();
    return ack.length === entries.length;
  }

  private async readStats(ctx: SourceContext): Promise<void> {
    const c = this.config;
    const groups = (await this.writer!.call('XINFO', 'GROUPS', c.stream)) as (string | number | null)[][];
    for (const g of groups) {
      const info = new Map<string, string | number | null>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1] ?? null);
      if (info.get('name') !== c.group) continue;
      this.pending = Number(info.get('pending') ?? 0);
      const lag = info.get('lag');
      this.lag = lag === null || lag === undefined ? null : Number(lag);
      ctx.metrics.pending.set({ source: this.name }, this.pending);
      if (this.lag !== null) ctx.metrics.lag.set({ source: this.name }, this.lag);
    }
  }
}

function fieldOf(fields: string[] | null, name: string): string | null {
  if (!fields) return null;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return null;
}
