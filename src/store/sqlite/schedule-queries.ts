import type { Database } from 'better-sqlite3';
import { ScheduleExistsError } from '../../core/errors.js';
import type { Schedule, ScheduleFire, ScheduleSpec } from '../../core/schedule-spec.js';

/** Schedules (store/schedule-store.ts, migration 0018) on SQLite, inside the caller's transaction (sqlite-store.ts). */

interface ScheduleRow {
  name: string;
  spec: string;
  paused: number;
  last_fire_at: number | null;
  created_at: number;
}
interface FireRow {
  schedule: string;
  fire_at: number;
  job_id: number | null;
  run_id: number | null;
}

const COLUMNS = `name, spec, paused, last_fire_at, created_at`;
const scheduleFromRow = (r: ScheduleRow): Schedule => ({ name: r.name, spec: JSON.parse(r.spec) as ScheduleSpec, paused: r.paused === 1, lastFireAt: r.last_fire_at, createdAt: r.created_at });
const fireFromRow = (r: FireRow): ScheduleFire => ({ schedule: r.schedule, fireAt: r.fire_at, jobId: r.job_id, runId: r.run_id });

export type ScheduleQueries = ReturnType<typeof prepareScheduleQueries>;

export function prepareScheduleQueries(db: Database) {
  const insert = db.prepare<[string, string, number], ScheduleRow>(`INSERT INTO schedules (name, spec, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`);
  const remove = db.prepare<[string]>(`DELETE FROM schedules WHERE name = ?`);
  const selectOne = db.prepare<[string], ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE name = ?`);
  const selectAll = db.prepare<[], ScheduleRow>(`SELECT ${COLUMNS} FROM schedules ORDER BY name`);
  // Resuming (paused = 0) raises last_fire_at to now: paused time is not missed.
  const setPausedOf = db.prepare<{ paused: number; names: string; now: number }, ScheduleRow>(
    `UPDATE schedules SET paused = :paused, last_fire_at = CASE WHEN :paused = 0 THEN max(coalesce(last_fire_at, 0), :now) ELSE last_fire_at END
      WHERE name IN (SELECT value FROM json_each(:names)) AND paused <> :paused RETURNING ${COLUMNS}`,
  );
  const setPausedAll = db.prepare<{ paused: number; now: number }, ScheduleRow>(
    `UPDATE schedules SET paused = :paused, last_fire_at = CASE WHEN :paused = 0 THEN max(coalesce(last_fire_at, 0), :now) ELSE last_fire_at END
      WHERE paused <> :paused RETURNING ${COLUMNS}`,
  );
  const insertFire = db.prepare<[string, number, number | null, number | null]>(`INSERT INTO schedule_fires (schedule, fire_at, job_id, run_id) VALUES (?, ?, ?, ?) ON CONFLICT (schedule, fire_at) DO NOTHING`);
  const advance = db.prepare<[number, string]>(`UPDATE schedules SET last_fire_at = max(coalesce(last_fire_at, 0), ?) WHERE name = ?`);
  const selectFires = db.prepare<[string, number], FireRow>(`SELECT schedule, fire_at, job_id, run_id FROM schedule_fires WHERE schedule = ? ORDER BY fire_at DESC LIMIT ?`);

  return {
    createSchedule(spec: ScheduleSpec, now: number): Schedule {
      const row = insert.get(spec.name, JSON.stringify(spec), now);
      if (!row) throw new ScheduleExistsError(spec.name);
      return scheduleFromRow(row);
    },
    deleteSchedule: (name: string): boolean => remove.run(name).changes > 0,
    getSchedule(name: string): Schedule | null {
      const row = selectOne.get(name);
      return row ? scheduleFromRow(row) : null;
    },
    listSchedules: (): Schedule[] => selectAll.all().map(scheduleFromRow),
    setSchedulesPaused(names: string[] | 'all', paused: boolean, now: number): Schedule[] {
      const p = paused ? 1 : 0;
      return (names === 'all' ? setPausedAll.all({ paused: p, now }) : setPausedOf.all({ paused: p, names: JSON.stringify(names), now })).map(scheduleFromRow);
    },
    recordScheduleFire(schedule: string, fire: Omit<ScheduleFire, 'schedule'> | null, upTo: number): void {
      if (fire) insertFire.run(schedule, fire.fireAt, fire.jobId, fire.runId);
      advance.run(upTo, schedule);
    },
    listScheduleFires: (schedule: string, limit: number): ScheduleFire[] => selectFires.all(schedule, limit).map(fireFromRow),
    /** Records a pipeline run's fire, in the run's transaction; false when that fire has its run already. */
    takeFire: (schedule: string, fireAt: number, runId: number): boolean => insertFire.run(schedule, fireAt, null, runId).changes > 0,
  };
}
