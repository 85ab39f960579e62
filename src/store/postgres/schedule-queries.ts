import { ScheduleExistsError } from '../../core/errors.js';
import type { Schedule, ScheduleFire, ScheduleSpec } from '../../core/schedule-spec.js';
import type { Sql } from './postgres-pool.js';

/** Schedules (store/schedule-store.ts, migration 0018) on PostgreSQL: each function one statement or two. */

interface ScheduleRow {
  name: string;
  spec: ScheduleSpec;
  paused: boolean;
  last_fire_at: number | null;
  created_at: number;
}
interface FireRow {
  schedule: string;
  fire_at: number;
  job_id: string | number | null;
  run_id: string | number | null;
}

const COLUMNS = `name, spec, paused, last_fire_at, created_at`;
const scheduleFromRow = (r: ScheduleRow): Schedule => ({ name: r.name, spec: r.spec, paused: r.paused, lastFireAt: r.last_fire_at, createdAt: r.created_at });
const fireFromRow = (r: FireRow): ScheduleFire => ({ schedule: r.schedule, fireAt: r.fire_at, jobId: r.job_id === null ? null : Number(r.job_id), runId: r.run_id === null ? null : Number(r.run_id) });

export async function createSchedule(sql: Sql, spec: ScheduleSpec, now: number): Promise<Schedule> {
  const [row] = await sql.query<ScheduleRow>(`INSERT INTO schedules (name, spec, created_at) VALUES ($1, $2::json, $3) ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`, [spec.name, JSON.stringify(spec), now]);
  if (!row) throw new ScheduleExistsError(spec.name);
  return scheduleFromRow(row);
}

export async function deleteSchedule(sql: Sql, name: string): Promise<boolean> {
  return (await sql.execute(`DELETE FROM schedules WHERE name = $1`, [name])) > 0;
}

export async function getSchedule(sql: Sql, name: string): Promise<Schedule | null> {
  const [row] = await sql.query<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE name = $1`, [name]);
  return row ? scheduleFromRow(row) : null;
}

export async function listSchedules(sql: Sql): Promise<Schedule[]> {
  return (await sql.query<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules ORDER BY name`)).map(scheduleFromRow);
}

/** Resuming raises last_fire_at to now: paused time is not missed. */
export async function setSchedulesPaused(sql: Sql, names: string[] | 'all', paused: boolean, now: number): Promise<Schedule[]> {
  const rows = await sql.query<ScheduleRow>(
    `UPDATE schedules SET paused = $1, last_fire_at = CASE WHEN $1 THEN last_fire_at ELSE greatest(coalesce(last_fire_at, 0), $3) END
      WHERE paused <> $1 AND ($2::text[] IS NULL OR name = ANY($2::text[])) RETURNING ${COLUMNS}`,
    [paused, names === 'all' ? null : names, now],
  );
  return rows.map(scheduleFromRow);
}

export async function recordScheduleFire(sql: Sql, schedule: string, fire: Omit<ScheduleFire, 'schedule'> | null, upTo: number): Promise<void> {
  if (fire) await sql.execute(`INSERT INTO schedule_fires (schedule, fire_at, job_id, run_id) VALUES ($1, $2, $3, $4) ON CONFLICT (schedule, fire_at) DO NOTHING`, [schedule, fire.fireAt, fire.jobId, fire.runId]);
  await sql.execute(`UPDATE schedules SET last_fire_at = greatest(coalesce(last_fire_at, 0), $1) WHERE name = $2`, [upTo, schedule]);
}

export async function listScheduleFires(sql: Sql, schedule: string, limit: number): Promise<ScheduleFire[]> {
  return (await sql.query<FireRow>(`SELECT schedule, fire_at, job_id, run_id FROM schedule_fires WHERE schedule = $1 ORDER BY fire_at DESC LIMIT $2`, [schedule, limit])).map(fireFromRow);
}

/** Records a pipeline run's fire, in the run's transaction; false when that fire has its run already. */
export async function takeFire(sql: Sql, schedule: string, fireAt: number, runId: number): Promise<boolean> {
  return (await sql.execute(`INSERT INTO schedule_fires (schedule, fire_at, run_id) VALUES ($1, $2, $3) ON CONFLICT (schedule, fire_at) DO NOTHING`, [schedule, fireAt, runId])) > 0;
}
