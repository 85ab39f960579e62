import type { Clock } from '../../core/clock.js';
import { PipelineNotFoundError, ScheduleNotFoundError, ValidationError } from '../../core/errors.js';
import { runInputProblem } from '../../core/pipeline-run.js';
import { parseScheduleSpec, type Schedule, type ScheduleFire } from '../../core/schedule-spec.js';
import type { AuditOf } from '../../store/access-store.js';
import type { Store } from '../../store/store.js';

/** Schedules' use cases (ADR 0018): definitions, pause and resume. The leader's ScheduleController fires them. */
export class ScheduleService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly onChange: () => void,
  ) {}

  /** Refused when its pipeline does not exist or needs inputs (a scheduled run has none). */
  async create(input: unknown, audit?: AuditOf<Schedule>): Promise<Schedule> {
    const spec = parseScheduleSpec(input);
    if ('pipeline' in spec.target) {
      const p = await this.store.getPipeline(spec.target.pipeline);
      if (!p) throw new PipelineNotFoundError(spec.target.pipeline);
      const problem = runInputProblem(p.spec, []);
      if (problem !== null) throw new ValidationError([{ path: 'target.pipeline', message: `${problem}; a scheduled run has no inputs` }]);
    }
    const schedule = await this.store.createSchedule(spec, this.clock.now(), audit);
    this.onChange();
    return schedule;
  }

  async delete(name: string, audit?: AuditOf<boolean>): Promise<void> {
    if (!(await this.store.deleteSchedule(name, audit))) throw new ScheduleNotFoundError(name);
  }

  list(): Promise<Schedule[]> {
    return this.store.listSchedules();
  }

  async schedule(name: string): Promise<Schedule> {
    const s = await this.store.getSchedule(name);
    if (!s) throw new ScheduleNotFoundError(name);
    return s;
  }

  /** The schedule's latest fires, newest first (not those of an earlier schedule of its name, deleted since). */
  async fires(name: string, limit = 20): Promise<ScheduleFire[]> {
    const s = await this.schedule(name);
    return (await this.store.listScheduleFires(name, limit)).filter((f) => f.fireAt > s.createdAt);
  }

  /** Pauses or resumes the named schedules, or all; an unknown name is refused before anything changes. */
  async setPaused(names: string[] | 'all', paused: boolean, audit?: AuditOf<Schedule[]>): Promise<Schedule[]> {
    if (names !== 'all') for (const n of names) await this.schedule(n);
    const changed = await this.store.setSchedulesPaused(names, paused, this.clock.now(), audit);
    this.onChange();
    return changed;
  }
}
