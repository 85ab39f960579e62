import type { Schedule, ScheduleFire, ScheduleSpec } from '../core/schedule-spec.js';
import type { AuditOf } from './access-store.js';
import type { Fence } from './leadership.js';

/**
 * The Store's schedules (migration 0018, ADR 0018): definitions, paused or not, how far each has fired, and its
 * fires. A pipeline run's fire is recorded by createPipelineRun (its `fire`), in the run's transaction.
 */
export interface ScheduleStore {
  /** Throws ScheduleExistsError when a schedule of that name exists. */
  createSchedule(spec: ScheduleSpec, now: number, audit?: AuditOf<Schedule>): Promise<Schedule>;
  /** Deletes the definition (its fires stay as history); false for an unknown schedule. */
  deleteSchedule(name: string, audit?: AuditOf<boolean>): Promise<boolean>;
  getSchedule(name: string): Promise<Schedule | null>;
  listSchedules(): Promise<Schedule[]>;
  /**
   * Pauses or resumes the named schedules (all with 'all'); returns those changed. Resuming sets lastFireAt to
   * `now` at least: the time spent paused is not missed, so it has nothing to catch up.
   */
  setSchedulesPaused(names: string[] | 'all', paused: boolean, now: number, audit?: AuditOf<Schedule[]>): Promise<Schedule[]>;
  /**
   * Records a fire (the leader's, fenced): its row (kept when one exists, a pipeline run's written with the run;
   * none for null: times passed over) and lastFireAt raised to `upTo`. Idempotent.
   */
  recordScheduleFire(schedule: string, fire: Omit<ScheduleFire, 'schedule'> | null, upTo: number, fence?: Fence): Promise<void>;
  /** The schedule's fires, newest first. */
  listScheduleFires(schedule: string, limit: number): Promise<ScheduleFire[]>;
}
