import type { Logger } from 'pino';
import type { IntakeSourceConfig } from '../../core/intake-config.js';
import type { JobSpec } from '../../core/job-spec.js';
import type { DeliveryDecision, RunInputMessage } from '../../core/intake-message.js';
import { decideBatch, jobHandler, runHandler, type Delivery } from './intake-batch.js';
import type { IntakeMetrics } from './intake-metrics.js';

/** What a broker source needs from the intake service (intake-service.ts). */
export interface SourceContext {
  /** False while the source is paused, every source is stopped, the cluster drains, or the service stops. */
  consuming(): boolean;
  /** Resolves when the pause state may have changed, or after `ms`. */
  waitForChange(ms: number): Promise<void>;
  /** ControlPlane.submitParsed for a batch of parsed specs (resolves after the commit). */
  submit(specs: JobSpec[]): Promise<unknown>;
  /** Starts a run of `pipeline` over one message's input (resolves after the commit; once per message key). */
  startRun(pipeline: string, input: RunInputMessage): Promise<unknown>;
  metrics: IntakeMetrics;
  log: Logger;
}

/** What each delivery of a batch comes to, as jobs or, with the source's `pipeline`, as runs; `field`: where a message holds its spec or input. */
export function decideDeliveries(config: IntakeSourceConfig, field: string, ctx: SourceContext, batch: readonly Delivery[]): Promise<DeliveryDecision[]> {
  const pipeline = config.pipeline;
  const { maxDeliveries } = config;
  if (pipeline !== undefined) return decideBatch(batch, { maxDeliveries, handler: runHandler(field, (input) => ctx.startRun(pipeline, input)) });
  return decideBatch(batch, { maxDeliveries, handler: jobHandler(field, (specs) => ctx.submit(specs)) });
}

/** A source's state, as the API shows it. */
export interface SourceStatus {
  name: string;
  kind: 'redis' | 'nats';
  /** `consuming`, `paused` (by its own pause, the emergency stop or drain), `standby` (this server does not lead), `error` (the broker is out of reach). */
  state: 'consuming' | 'paused' | 'standby' | 'error';
  /** Where it reads: the Redis stream or JetStream stream (and subject). */
  from: string;
  deadLetter: string;
  received: number;
  acked: number;
  deadLettered: number;
  /** Delivered, not yet acknowledged; null before the first reading. */
  pending: number | null;
  /** In the stream, not yet delivered; null before the first reading or where the broker does not say. */
  lag: number | null;
  lastError: string | null;
}

/** A consumer of one broker source: runs only on the leader, between start() and stop(). */
export interface IntakeSource {
  readonly name: string;
  start(ctx: SourceContext): void;
  /** Stops reading; resolves once the loop has ended (a batch in flight is finished first) and the connections are closed. */
  stop(): Promise<void>;
  status(): Omit<SourceStatus, 'state'> & { running: boolean; failing: boolean };
}
