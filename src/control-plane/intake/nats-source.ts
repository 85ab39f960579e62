import { AckPolicy, connect, DeliverPolicy, headers, type Consumer, type JsMsg, type NatsConnection } from 'nats';
import type { NatsSourceConfig } from '../../core/intake-config.js';
import { deadLetterKind, type Delivery } from './intake-batch.js';
import { decideDeliveries, type IntakeSource, type SourceContext } from './intake-source.js';

/**
 * A NATS JetStream source (ADR 0017): a durable pull consumer (explicit acks, ack_wait = ackWaitMs, created when
 * missing). Each turn fetches a batch, stores its jobs in one transaction, then acks what was stored; a message to
 * dead-letter is published to the dead-letter subject (headers: the reason, source, stream sequence, deliveries;
 * body: the original) and then terminated (term), so the server never delivers it again. A message not stored
 * (the store is down) is not acked: the server delivers it again after ack_wait; gpuq counts its deliveries
 * (from the message's delivery info) and dead-letters it at maxDeliveries, so the consumer's own max_deliver is
 * left unlimited and no message is dropped by the server without a dead letter. A fetch that returns while intake
 * is paused is handed back unprocessed (nak), to be delivered again after resume.
 */
export class NatsSource implements IntakeSource {
  readonly name: string;
  private nc: NatsConnection | null = null;
  private loop: Promise<void> | null = null;
  private running = false;
  private counts = { received: 0, acked: 0, deadLettered: 0 };
  private pending: number | null = null;
  private lag: number | null = null;
  private lastError: string | null = null;
  private failing = false;

  constructor(private readonly config: NatsSourceConfig) {
    this.name = config.name;
  }

  start(ctx: SourceContext): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run(ctx);
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop?.catch(() => {});
    this.loop = null;
    const nc = this.nc;
    this.nc = null;
    await nc?.drain().catch(() => nc.close());
  }

  status() {
    const c = this.config;
    return { name: this.name, kind: 'nats' as const, from: `${c.stream}${c.subject ? ` (${c.subject})` : ''} (consumer ${c.consumer})`, deadLetter: c.deadLetterSubject, ...this.counts, pending: this.pending, lag: this.lag, lastError: this.lastError, running: this.running, failing: this.failing };
  }

  private async run(ctx: SourceContext): Promise<void> {
    let consumer: Consumer | null = null;
    let lastStats = 0;
    while (this.running) {
      try {
        if (consumer === null) consumer = await this.connectConsumer();
        if (Date.now() - lastStats >= 1000) {
          lastStats = Date.now();
          const info = await consumer.info();
          this.pending = info.num_ack_pending;
          this.lag = info.num_pending;
          ctx.metrics.pending.set({ source: this.name }, this.pending);
          ctx.metrics.lag.set({ source: this.name }, this.lag);
        }
        if (!ctx.consuming()) {
          ctx.metrics.paused.set({ source: this.name }, 1);
          await ctx.waitForChange(250);
          continue;
        }
        ctx.metrics.paused.set({ source: this.name }, 0);
        const batch: JsMsg[] = [];
        const messages = await consumer.fetch({ max_messages: this.config.batchSize, expires: 1000 });
        for await (const m of messages) {
          batch.push(m);
          // Stop waiting for a full batch as soon as the pause takes hold.
          if (!ctx.consuming()) break;
        }
        if (!ctx.consuming() || !this.running) {
          for (const m of batch) m.nak();
          continue;
        }
        if (batch.length > 0) await this.handle(ctx, batch);
        this.failing = false;
      } catch (err) {
        if (!this.running) break;
        this.failing = true;
        this.lastError = err instanceof Error ? err.message : String(err);
        ctx.log.warn({ err, source: this.name }, 'intake from NATS failed; trying again');
        consumer = null;
        const nc = this.nc;
        this.nc = null;
        await nc?.close().catch(() => {});
        await ctx.waitForChange(1000);
      }
    }
  }

  private async connectConsumer(): Promise<Consumer> {
    const c = this.config;
    this.nc ??= await connect({ servers: [...c.servers], name: `gpuq-intake-${this.name}`, maxReconnectAttempts: -1 });
    const jsm = await this.nc.jetstreamManager();
    let existing: Awaited<ReturnType<typeof jsm.consumers.info>> | null = null;
    try {
      existing = await jsm.consumers.info(c.stream, c.consumer);
    } catch (err) {
      if (!(err instanceof Error && /consumer not found/i.test(err.message))) throw err;
    }
    if (existing !== null) {
      // A changed ackWaitMs is applied to the existing consumer; the rest of its config is left as it is.
      if (existing.config.ack_wait !== c.ackWaitMs * 1_000_000) await jsm.consumers.update(c.stream, c.consumer, { ack_wait: c.ackWaitMs * 1_000_000 }).catch(() => {});
    } else {
      await jsm.consumers.add(c.stream, {
        durable_name: c.consumer,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: c.ackWaitMs * 1_000_000,
        max_deliver: -1,
        max_ack_pending: Math.max(1000, c.batchSize * 2),
        ...(c.subject === undefined ? {} : { filter_subject: c.subject }),
      });
    }
    return this.nc.jetstream().consumers.get(c.stream, c.consumer);
  }

  private async handle(ctx: SourceContext, batch: JsMsg[]): Promise<void> {
    const c = this.config;
    const deliveries: Delivery[] = batch.map((m) => ({ origin: { source: this.name, broker: 'nats', stream: c.stream, messageId: String(m.seq) }, body: m.string(), deliveries: m.info.redeliveryCount }));
    this.counts.received += batch.length;
    ctx.metrics.received.inc({ source: this.name }, batch.length);
    const decisions = await decideDeliveries(c, 'job', ctx, deliveries);
    const nc = this.nc!;
    const dead: Promise<unknown>[] = [];
    let acked = 0;
    decisions.forEach((d, i) => {
      const m = batch[i]!;
      if (d.action === 'ack') {
        m.ack();
        acked++;
      } else if (d.action === 'dead-letter') {
        ctx.metrics.deadLettered.inc({ source: this.name, reason: deadLetterKind(d.reason) });
        ctx.log.warn({ source: this.name, seq: m.seq, reason: d.reason }, 'intake message dead-lettered');
        const h = headers();
        h.set('Gpuq-Dead-Letter-Reason', d.reason.replace(/[\r\n]+/g, ' '));
        h.set('Gpuq-Source', this.name);
        h.set('Gpuq-Stream', c.stream);
        h.set('Gpuq-Stream-Seq', String(m.seq));
        h.set('Gpuq-Subject', m.subject);
        h.set('Gpuq-Deliveries', String(deliveries[i]!.deliveries));
        // Published through JetStream when a stream holds the subject (acknowledged), else as a plain message.
        dead.push(
          nc
            .jetstream()
            .publish(c.deadLetterSubject, m.data, { headers: h, msgID: `gpuq-dead-${c.stream}-${m.seq}` })
            .catch(() => nc.publish(c.deadLetterSubject, m.data, { headers: h }))
            // term without a reason: servers before 2.10 ignore a "+TERM <reason>" and would deliver the message again.
            .then(() => m.term()),
        );
      }
    });
    await Promise.all(dead);
    await nc.flush();
    this.counts.acked += acked;
    this.counts.deadLettered += dead.length;
    ctx.metrics.acked.inc({ source: this.name }, acked);
  }
}
