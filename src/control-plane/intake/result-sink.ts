import { Redis } from 'ioredis';
import { connect, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { IntakeSinkConfig } from '../../core/intake-config.js';
import { INTAKE_LABEL } from '../../core/intake-message.js';
import type { FeedEvent } from '../../core/feed-events.js';
import type { Store } from '../../store/store.js';
import type { IntakeMetrics } from './intake-metrics.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const PAGE = 1000;

/** What a sink publishes for one job's final state: JSON, one message per final transition. */
export interface PublishedFinalState {
  kind: 'job';
  jobId: number;
  name: string;
  queue: string;
  state: string;
  reason: string | null;
  at: number;
  /** The event feed id of the transition: a consumer that sees one twice (at least once) can tell. */
  feedId: number;
  /** The intake source the job came from; null for jobs submitted otherwise. */
  source: string | null;
  /** The job's result (ADR 0011) when it succeeded with one; null otherwise. */
  result: unknown;
}

/** What a sink publishes when a pipeline run ends (ADR 0018): one message per run. */
export interface PublishedRunEnd {
  kind: 'pipeline-run';
  runId: number;
  pipeline: string;
  state: 'succeeded' | 'failed' | 'cancelled';
  reason: string | null;
  /** The names of the files the run published in its pipeline's output directory (empty unless it succeeded). */
  outputs: string[];
  onFailureJobId: number | null;
  at: number;
  feedId: number;
  /** The intake source whose message started the run; null for runs started otherwise. */
  source: string | null;
}

type JobStateEvent = Extract<FeedEvent, { type: 'job.state' }>;
type RunEndedEvent = Extract<FeedEvent, { type: 'pipeline.run.ended' }>;

/**
 * A result sink (ADR 0017): follows the event feed from its cursor in the store, publishes each final job state
 * (succeeded, failed into the DLQ, cancelled) of the jobs it covers and each end of the pipeline runs it covers
 * (those started from a broker message, or all with `jobs: all`), then advances the cursor, durably. Publish
 * before advance: after a crash the last page is published again (at least once, each message carrying its feed
 * id), and a sink that was down catches up from the feed (kept --event-retention-hours, 24 by default), so no
 * final state is missed while it is away for less than that. Runs only on the leader.
 */
export class ResultSink {
  readonly name: string;
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeUp: (() => void) | null = null;
  private redis: Redis | null = null;
  private nats: NatsConnection | null = null;
  private published = 0;
  private cursor: number | null = null;
  private lastError: string | null = null;

  constructor(
    private readonly config: IntakeSinkConfig,
    private readonly store: Store,
    private readonly metrics: IntakeMetrics,
    private readonly log: Logger,
  ) {
    this.name = config.name;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** The feed grew: read it now. */
  wake(): void {
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop?.catch(() => {});
    this.loop = null;
    this.redis?.disconnect();
    this.redis = null;
    await this.nats?.drain().catch(() => {});
    this.nats = null;
  }

  status() {
    const c = this.config;
    return { name: this.name, kind: c.kind, to: c.kind === 'redis' ? c.stream : c.subject, jobs: c.jobs, published: this.published, cursor: this.cursor, lastError: this.lastError, running: this.running };
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        this.cursor ??= (await this.store.getSinkCursors())[this.name] ?? 0;
        const read = await this.store.readFeed(this.cursor, { types: ['job.state', 'pipeline.run.ended'] }, PAGE);
        const all = this.config.jobs === 'all';
        const covered = read.events.filter(
          (e): e is JobStateEvent | RunEndedEvent =>
            (e.type === 'job.state' && FINAL.has(e.to) && (all || e.labels[INTAKE_LABEL] !== undefined)) || (e.type === 'pipeline.run.ended' && (all || e.source !== null)),
        );
        // Before publishing: a sink whose broker is down shows how far it falls behind, not its last good value.
        this.metrics.sinkBehind.set({ sink: this.name }, Math.max(0, read.headId - this.cursor));
        if (covered.length > 0) await this.publish(await Promise.all(covered.map((e) => (e.type === 'job.state' ? this.message(e) : runMessage(e)))));
        const next = read.events.length < PAGE ? Math.max(this.cursor, read.headId) : read.events[read.events.length - 1]!.id;
        this.metrics.sinkBehind.set({ sink: this.name }, Math.max(0, read.headId - next));
        if (next !== this.cursor) {
          await this.store.advanceSinkCursor(this.name, next, Date.now());
          this.cursor = next;
        }
        this.lastError = null;
        if (read.events.length < PAGE) await this.sleep(1000);
      } catch (err) {
        if (!this.running) break;
        this.lastError = err instanceof Error ? err.message : String(err);
        this.log.warn({ err, sink: this.name }, 'publishing final states failed; trying again');
        await this.sleep(1000);
      }
    }
  }

  private async message(e: JobStateEvent): Promise<PublishedFinalState> {
    const output = e.to === 'succeeded' ? await this.store.getJobOutput(e.jobId) : null;
    return { kind: 'job', jobId: e.jobId, name: e.name, queue: e.queue, state: e.to, reason: e.reason, at: e.at, feedId: e.id, source: e.labels[INTAKE_LABEL] ?? null, result: output?.result ?? null };
  }

  private async publish(messages: (PublishedFinalState | PublishedRunEnd)[]): Promise<void> {
    const c = this.config;
    if (c.kind === 'redis') {
      this.redis ??= new Redis(c.url, { maxRetriesPerRequest: 1 });
      const pipeline = this.redis.pipeline();
      for (const m of messages) {
        const id = m.kind === 'job' ? ['jobId', String(m.jobId)] : ['runId', String(m.runId)];
        pipeline.xadd(c.stream, '*', ...id, 'state', m.state, 'feedId', String(m.feedId), 'final', JSON.stringify(m));
      }
      const results = await pipeline.exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0] as Error;
    } else {
      this.nats ??= await connect({ servers: [...c.servers], name: `gpuq-sink-${this.name}`, maxReconnectAttempts: -1 });
      const js = this.nats.jetstream();
      // JetStream acknowledges each publish; msgID lets the stream drop a republish after a crash (within its duplicate window).
      await Promise.all(messages.map((m) => js.publish(c.subject, JSON.stringify(m), { msgID: m.kind === 'job' ? `gpuq-${m.jobId}-${m.feedId}` : `gpuq-run-${m.runId}-${m.feedId}` })));
    }
    this.published += messages.length;
    this.metrics.published.inc({ sink: this.name }, messages.length);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    });
  }
}

function runMessage(e: RunEndedEvent): PublishedRunEnd {
  return { kind: 'pipeline-run', runId: e.run, pipeline: e.pipeline, state: e.state, reason: e.reason, outputs: (e.outputs ?? []).map((o) => o.name), onFailureJobId: e.onFailureJobId, at: e.at, feedId: e.id, source: e.source };
}
