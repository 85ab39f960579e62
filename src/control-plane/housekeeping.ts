import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import type { ControlPlane } from './control-plane.js';
import { purgeDoneFiles, purgePipelineRuns } from './pipelines/retention.js';

export interface HousekeepingOptions {
  /** How often expired leases are looked for. */
  reclaimEveryMs: number;
  /** A node with no heartbeat for this long is marked down. */
  nodeDownAfterMs: number;
  /** Finished jobs, finished pool tasks (not those in a pool's DLQ), ended pipeline runs (with their run directories) and directory triggers' done/ files are kept this long. */
  retentionMs: number;
  /** Device telemetry is kept this long. */
  telemetryRetentionMs: number;
  /** Audit log entries are kept this long. */
  auditRetentionMs: number;
  /** Events of the event feed are kept this long. */
  eventRetentionMs: number;
  /** How often retention runs. */
  purgeEveryMs: number;
}

/**
 * Background duties of the control plane: reclaiming expired leases, marking
 * silent nodes down, and purging finished jobs, ended pipeline runs (and their
 * files), old telemetry and old audit entries and events after their retention periods. Each duty runs on its own unref'd timer and never
 * overlaps itself. They are the leader's: started when this server is
 * elected, stopped when it is deposed, and every write carries its fence.
 */
export class Housekeeping {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly busy = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly controlPlane: ControlPlane,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: HousekeepingOptions,
  ) {}

  start(): void {
    this.every('reclaim', this.options.reclaimEveryMs, () => this.reclaim());
    this.every('retention', this.options.purgeEveryMs, () => this.purge());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers.length = 0;
  }

  async reclaim(): Promise<void> {
    const before = this.clock.now() - this.options.nodeDownAfterMs;
    const down = await this.controlPlane.leaderWrite((fence) => this.store.markNodesDown(before, fence));
    if (down.length > 0) this.log.warn({ nodes: down }, 'nodes stopped heartbeating and were marked down');
    await this.controlPlane.reclaimExpired();
  }

  async purge(): Promise<void> {
    const before = this.clock.now() - this.options.retentionMs;
    let total = 0;
    for (;;) {
      const n = await this.controlPlane.leaderWrite((fence) => this.store.purgeFinishedJobs(before, 1000, fence));
      total += n;
      if (n < 1000) break;
    }
    let tasks = 0;
    for (;;) {
      const n = await this.controlPlane.leaderWrite((fence) => this.store.purgeFinishedTasks(before, 1000, fence));
      tasks += n;
      if (n < 1000) break;
    }
    const runs = await purgePipelineRuns(this.store, (write) => this.controlPlane.leaderWrite(write), before);
    const doneFiles = await purgeDoneFiles(this.store, before);
    const telemetryBefore = this.clock.now() - this.options.telemetryRetentionMs;
    const samples = await this.controlPlane.leaderWrite((fence) => this.store.purgeTelemetry(telemetryBefore, fence));
    const auditBefore = this.clock.now() - this.options.auditRetentionMs;
    const audit = await this.controlPlane.leaderWrite((fence) => this.store.purgeAudit(auditBefore, fence));
    const eventsBefore = this.clock.now() - this.options.eventRetentionMs;
    const events = await this.controlPlane.leaderWrite((fence) => this.store.purgeFeed(eventsBefore, fence));
    if (total > 0 || tasks > 0 || runs > 0 || doneFiles > 0 || samples > 0 || audit > 0 || events > 0) {
      this.log.info({ jobs: total, poolTasks: tasks, pipelineRuns: runs, doneFiles, telemetrySamples: samples, auditEntries: audit, events }, 'retention purged finished jobs and pool tasks, ended pipeline runs, old telemetry, old audit entries and old events');
    }
  }

  private every(name: string, ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => {
      if (this.busy.has(name)) return;
      this.busy.add(name);
      fn()
        .catch((e: unknown) => this.log.error({ err: e, duty: name }, 'housekeeping duty failed'))
        .finally(() => this.busy.delete(name));
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
