import type { Logger } from 'pino';
import type { AuditRecord } from '../../core/access.js';
import type { Clock } from '../../core/clock.js';
import type { IntakeConfig } from '../../core/intake-config.js';
import { ValidationError } from '../../core/errors.js';
import type { IntakePauses } from '../../store/intake-store.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import type { PipelineService } from '../pipelines/pipeline-service.js';
import type { Metrics } from '../metrics.js';
import { IntakeMetrics } from './intake-metrics.js';
import type { IntakeSource, SourceContext, SourceStatus } from './intake-source.js';
import { NatsSource } from './nats-source.js';
import { RedisSource } from './redis-source.js';
import { ResultSink } from './result-sink.js';

/** How often the pause state is read from the store (a pause through another server of a cluster takes hold within this). */
const PAUSE_POLL_MS = 250;

export interface IntakeView {
  paused: IntakePauses;
  /** Drain (maintenance mode) stops every source too, while it lasts. */
  draining: boolean;
  leader: boolean;
  sources: SourceStatus[];
  sinks: ReturnType<ResultSink['status']>[];
}

/**
 * Broker intake on one server (ADR 0017): its sources and sinks, run only while this server leads (started and
 * stopped by the election, like the pool controller), and the pause state, which lives in the store (paused
 * sources, the emergency stop of all) and is read every 250 ms, or at once after a pause through this server.
 * A source consumes while: this server leads, neither it nor all sources are paused, and the cluster does not drain.
 */
export class IntakeService {
  private readonly sources: IntakeSource[];
  private readonly sinks: ResultSink[];
  private readonly metrics: IntakeMetrics;
  private pauses: IntakePauses = { all: false, sources: [] };
  private leading = false;
  private poll: NodeJS.Timeout | null = null;
  private waiters = new Set<() => void>();

  constructor(
    config: IntakeConfig,
    private readonly store: Store,
    private readonly controlPlane: ControlPlane,
    private readonly pipelines: Pick<PipelineService, 'start'>,
    private readonly clock: Clock,
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.metrics = new IntakeMetrics(metrics.registry);
    this.sources = config.sources.map((s) => (s.kind === 'redis' ? new RedisSource(s) : new NatsSource(s)));
    this.sinks = config.sinks.map((s) => new ResultSink(s, store, this.metrics, log.child({ sink: s.name })));
    this.metrics.zero(config.sources.map((s) => s.name), config.sinks.map((s) => s.name));
  }

  get configured(): boolean {
    return this.sources.length + this.sinks.length > 0;
  }

  async init(): Promise<void> {
    this.pauses = await this.store.getIntakePauses();
    if (!this.configured) return;
    this.poll = setInterval(() => void this.refresh().catch((err: unknown) => this.log.warn({ err }, 'reading the intake pause state failed')), PAUSE_POLL_MS);
    this.poll.unref();
  }

  /** Elected: start every source and sink. */
  start(): void {
    this.leading = true;
    for (const source of this.sources) source.start(this.contextFor(source.name));
    for (const sink of this.sinks) sink.start();
  }

  /** Deposed or closing: stop them all (a batch in flight finishes first; what it did not ack is delivered again). */
  async stop(): Promise<void> {
    this.leading = false;
    this.wakeAll();
    await Promise.all([...this.sources.map((s) => s.stop()), ...this.sinks.map((s) => s.stop())]);
  }

  async close(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    await this.stop();
  }

  /** The event feed grew (a job may have ended): sinks read it now. */
  onFeed(): void {
    for (const sink of this.sinks) sink.wake();
  }

  /** Pauses or resumes sources by name (each must be configured here), or all of them: durable and audited. */
  async setPaused(target: string[] | 'all', paused: boolean, audit: (pauses: IntakePauses) => AuditRecord | null): Promise<IntakePauses> {
    if (target !== 'all') {
      const known = new Set(this.sources.map((s) => s.name));
      const unknown = target.filter((n) => !known.has(n));
      if (unknown.length > 0) throw new ValidationError([{ path: 'sources', message: `no intake source named ${unknown.map((n) => `"${n}"`).join(', ')}; this server has ${known.size === 0 ? 'none' : [...known].join(', ')}` }]);
    }
    this.pauses = await this.store.setIntakePaused(target, paused, this.clock.now(), audit);
    this.wakeAll();
    return this.pauses;
  }

  view(): IntakeView {
    const draining = this.controlPlane.maintenanceMode === 'drain';
    return {
      paused: this.pauses,
      draining,
      leader: this.leading,
      sources: this.sources.map((s) => {
        const { running, failing, ...status } = s.status();
        const state: SourceStatus['state'] = !this.leading || !running ? 'standby' : !this.consuming(s.name) ? 'paused' : failing ? 'error' : 'consuming';
        return { ...status, state };
      }),
      sinks: this.sinks.map((s) => s.status()),
    };
  }

  private consuming(name: string): boolean {
    return this.leading && !this.pauses.all && !this.pauses.sources.includes(name) && this.controlPlane.maintenanceMode !== 'drain';
  }

  private async refresh(): Promise<void> {
    const before = JSON.stringify(this.pauses);
    this.pauses = await this.store.getIntakePauses();
    if (JSON.stringify(this.pauses) !== before) this.wakeAll();
  }

  private wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }

  private contextFor(name: string): SourceContext {
    return {
      consuming: () => this.consuming(name),
      waitForChange: (ms) =>
        new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            this.waiters.delete(done);
            resolve();
          };
          const timer = setTimeout(done, ms);
          this.waiters.add(done);
        }),
      submit: (specs) => this.controlPlane.submitParsed(specs, null),
      // Owned by nobody, like the jobs of broker messages: a run per message key, its source recorded.
      startRun: (pipeline, input) => this.pipelines.start(pipeline, [{ name: input.name, data: Buffer.from(input.text).toString('base64') }], null, { idempotencyKey: input.idempotencyKey, source: name }),
      metrics: this.metrics,
      log: this.log.child({ source: name }),
    };
  }
}
