import { ALL_SOURCES, pausesFromNames, type IntakePauses } from '../intake-store.js';
import type { Sql } from './postgres-pool.js';

/** Broker intake's state (store/intake-store.ts, migration 0016) on PostgreSQL. Each function runs in the caller's transaction or on its own. */

const SELECT_PAUSES = `SELECT name FROM intake_pauses ORDER BY name`;
/** Parameters: names text[], paused_at. */
const INSERT_PAUSES = `INSERT INTO intake_pauses (name, paused_at) SELECT unnest($1::text[]), $2 ON CONFLICT (name) DO NOTHING`;
/** Parameters: names text[]. */
const DELETE_PAUSES = `DELETE FROM intake_pauses WHERE name = ANY($1::text[])`;
const DELETE_ALL_PAUSES = `DELETE FROM intake_pauses`;
const SELECT_CURSORS = `SELECT sink, last_feed_id FROM intake_sink_cursors`;
/** Parameters: sink, last_feed_id, updated_at. */
const UPSERT_CURSOR = `INSERT INTO intake_sink_cursors (sink, last_feed_id, updated_at) VALUES ($1, $2, $3)
  ON CONFLICT (sink) DO UPDATE SET last_feed_id = excluded.last_feed_id, updated_at = excluded.updated_at WHERE excluded.last_feed_id > intake_sink_cursors.last_feed_id`;

export async function getIntakePauses(sql: Sql): Promise<IntakePauses> {
  const rows = await sql.query<{ name: string }>(SELECT_PAUSES);
  return pausesFromNames(rows.map((r) => r.name));
}

export async function setIntakePaused(sql: Sql, target: string[] | 'all', paused: boolean, now: number): Promise<IntakePauses> {
  if (target === 'all') {
    if (paused) await sql.execute(INSERT_PAUSES, [[ALL_SOURCES], now]);
    else await sql.execute(DELETE_ALL_PAUSES);
  } else if (paused) await sql.execute(INSERT_PAUSES, [target, now]);
  else await sql.execute(DELETE_PAUSES, [target]);
  return getIntakePauses(sql);
}

export async function getSinkCursors(sql: Sql): Promise<Record<string, number>> {
  const rows = await sql.query<{ sink: string; last_feed_id: string | number }>(SELECT_CURSORS);
  return Object.fromEntries(rows.map((r) => [r.sink, Number(r.last_feed_id)]));
}

export async function advanceSinkCursor(sql: Sql, sink: string, feedId: number, now: number): Promise<void> {
  await sql.execute(UPSERT_CURSOR, [sink, feedId, now]);
}
