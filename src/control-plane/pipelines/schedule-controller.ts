import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { GpuqError } from '../../core/errors.js';
import { dueFires, fireJobKey, type Schedule } from '../../core/schedule-spec.js';
import type { MaintenanceMode } from '../../core/types.js';
import type { Fence } from '../../store/leadership.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import { SerialLoop } from '../serial-loop.js';
import type { PipelineService } from './pipeline-service.js';

/** A pass each second: the finest a cron (with its seconds field) asks for. */
const TICK_MS = 1000;

/**
 * The leader's schedules (ADR 0018). Each pass, unless the cluster drains, for each schedule not paused: the fires
 * due (core/schedule-spec.ts dueFires, from its lastFireAt or else its creation) are made, oldest first, each
 * exactly once whatever crashes:
 * - a job: submitted with the idempotency key schedule:<name>:<time> (the store keeps one job per key), then the
 *   fire recorded and lastFireAt advanced; a crash between the two submits the same key again, which dedups;
 * - a pipeline run: started with the fire recorded in the run's transaction (FIRE_TAKEN when a leader before this
 *   one got there), then lastFireAt advanced.
 * dueFires gives the same first fire for the same lastFireAt, so a retried pass fires the same time.
 */
export class ScheduleController {
  private readonly loop: SerialLoop;

  constructor(
    private readonly store: Store,
    private readonly controlPlane: ControlPlane,
    private readonly pipelines: PipelineService,
    private readonly leaderWrite: <T>(write: (fence: Fence) => Promise<T>) => Promise<T>,
    private readonly maintenance: () => MaintenanceMode,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.loop = new SerialLoop(() => this.pass(), { periodMs: TICK_MS, minSpacingMs: 100, onError: (err) => this.log.warn({ err }, 'schedule pass failed; the next one retries') });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  wake(): void {
    this.loop.wake();
  }

  async pass(): Promise<void> {
    if (this.maintenance() === 'drain') return;
    for (const s of await this.store.listSchedules()) {
      if (s.paused) continue;
      try {
        await this.fire(s);
      } catch (err) {
        this.log.warn({ err, schedule: s.name }, 'schedule fire failed; the next pass retries');
      }
    }
  }

  private async fire(s: Schedule): Promise<void> {
    const { fires, upTo } = dueFires(s.spec, s.lastFireAt ?? s.createdAt, this.clock.now());
    if (upTo === null) return;
    if (fires.length === 0) {
      // missed: 'skip' passed over late times: only lastFireAt moves.
      this.log.info({ schedule: s.name, upTo: new Date(upTo).toISOString() }, 'missed schedule times skipped');
      return this.leaderWrite((fence) => this.store.recordScheduleFire(s.name, null, upTo, fence));
    }
    for (let i = 0; i < fires.length; i++) {
      const at = fires[i]!;
      // Each fire advances lastFireAt to its own time, the last to upTo (past the missed times it stands for).
      const advanceTo = i === fires.length - 1 ? upTo : at;
      let jobId: number | null = null;
      let runId: number | null = null;
      const target = s.spec.target;
      if ('job' in target) {
        const [out] = await this.controlPlane.submitParsed([{ ...target.job, idempotencyKey: fireJobKey(s.name, at) }], null, () => `schedule ${s.name}: `);
        jobId = out!.job.id;
      } else {
        try {
          runId = (await this.pipelines.start(target.pipeline, [], null, { fire: { schedule: s.name, at } })).id;
        } catch (err) {
          if (!(err instanceof GpuqError && err.code === 'FIRE_TAKEN')) throw err;
        }
      }
      await this.leaderWrite((fence) => this.store.recordScheduleFire(s.name, { fireAt: at, jobId, runId }, advanceTo, fence));
      this.log.info({ schedule: s.name, fireAt: new Date(at).toISOString(), jobId, runId }, 'schedule fired');
    }
  }
}
