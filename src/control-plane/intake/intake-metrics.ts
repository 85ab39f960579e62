import client from 'prom-client';

/** Broker intake's Prometheus metrics (ADR 0017), by source or sink name. Pending and lag are read from the brokers about once a second. */
export class IntakeMetrics {
  readonly received: client.Counter<'source'>;
  readonly acked: client.Counter<'source'>;
  readonly deadLettered: client.Counter<'source' | 'reason'>;
  readonly pending: client.Gauge<'source'>;
  readonly lag: client.Gauge<'source'>;
  readonly paused: client.Gauge<'source'>;
  readonly published: client.Counter<'sink'>;
  readonly sinkBehind: client.Gauge<'sink'>;

  constructor(registry: client.Registry) {
    const registers = [registry];
    this.received = new client.Counter({ name: 'gpuq_intake_messages_received_total', help: 'Broker messages read by an intake source (redeliveries included).', labelNames: ['source'] as const, registers });
    this.acked = new client.Counter({ name: 'gpuq_intake_messages_acked_total', help: 'Broker messages acknowledged after their job or pipeline run was stored (or found stored under its idempotency key).', labelNames: ['source'] as const, registers });
    this.deadLettered = new client.Counter({
      name: 'gpuq_intake_messages_dead_lettered_total',
      help: 'Broker messages sent to the dead-letter stream or subject, by reason: malformed (not JSON, invalid spec), rejected (unschedulable, missing dependency), deliveries (out of deliveries).',
      labelNames: ['source', 'reason'] as const,
      registers,
    });
    this.pending = new client.Gauge({ name: 'gpuq_intake_pending', help: 'Messages delivered to gpuq and not yet acknowledged (Redis XPENDING count; NATS num_ack_pending).', labelNames: ['source'] as const, registers });
    this.lag = new client.Gauge({ name: 'gpuq_intake_lag', help: 'Messages in the stream not yet delivered to gpuq (Redis group lag; NATS num_pending).', labelNames: ['source'] as const, registers });
    this.paused = new client.Gauge({ name: 'gpuq_intake_paused', help: '1 while a source does not consume (paused, emergency stop or drain), else 0.', labelNames: ['source'] as const, registers });
    this.published = new client.Counter({ name: 'gpuq_intake_published_total', help: 'Final states of jobs and ends of pipeline runs published by a sink (at least once: a republish after a crash counts again).', labelNames: ['sink'] as const, registers });
    this.sinkBehind = new client.Gauge({ name: 'gpuq_intake_sink_behind', help: 'Event feed ids between the feed head and what a sink has published.', labelNames: ['sink'] as const, registers });
  }

  /** Every configured source's and sink's counters exported at 0 from the start, so rate() and increase() see their first messages. */
  zero(sources: readonly string[], sinks: readonly string[]): void {
    for (const source of sources) {
      this.received.inc({ source }, 0);
      this.acked.inc({ source }, 0);
      for (const reason of ['malformed', 'rejected', 'deliveries']) this.deadLettered.inc({ source, reason }, 0);
    }
    for (const sink of sinks) this.published.inc({ sink }, 0);
  }
}
