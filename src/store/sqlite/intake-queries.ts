import type { Database } from 'better-sqlite3';
import { ALL_SOURCES, pausesFromNames, type IntakePauses } from '../intake-store.js';

/** Broker intake's state (store/intake-store.ts, migration 0016) on SQLite. Functions run inside the caller's transaction (sqlite-store.ts). */

const SELECT_PAUSES = `SELECT name FROM intake_pauses ORDER BY name`;
/** Parameters: name, paused_at. */
const INSERT_PAUSE = `INSERT INTO intake_pauses (name, paused_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`;
/** Parameters: name. */
const DELETE_PAUSE = `DELETE FROM intake_pauses WHERE name = ?`;
const DELETE_ALL_PAUSES = `DELETE FROM intake_pauses`;
const SELECT_CURSORS = `SELECT sink, last_feed_id FROM intake_sink_cursors`;
/** Parameters: sink, last_feed_id, updated_at. */
const UPSERT_CURSOR = `INSERT INTO intake_sink_cursors (sink, last_feed_id, updated_at) VALUES (?, ?, ?)
  ON CONFLICT (sink) DO UPDATE SET last_feed_id = excluded.last_feed_id, updated_at = excluded.updated_at WHERE excluded.last_feed_id > intake_sink_cursors.last_feed_id`;

export type IntakeQueries = ReturnType<typeof prepareIntakeQueries>;

export function prepareIntakeQueries(db: Database) {
  const selectPauses = db.prepare<[], { name: string }>(SELECT_PAUSES);
  const insertPause = db.prepare<[string, number]>(INSERT_PAUSE);
  const deletePause = db.prepare<[string]>(DELETE_PAUSE);
  const deleteAllPauses = db.prepare(DELETE_ALL_PAUSES);
  const selectCursors = db.prepare<[], { sink: string; last_feed_id: number }>(SELECT_CURSORS);
  const upsertCursor = db.prepare<[string, number, number]>(UPSERT_CURSOR);

  function getIntakePauses(): IntakePauses {
    return pausesFromNames(selectPauses.all().map((r) => r.name));
  }

  function setIntakePaused(target: string[] | 'all', paused: boolean, now: number): IntakePauses {
    if (target === 'all') {
      if (paused) insertPause.run(ALL_SOURCES, now);
      else deleteAllPauses.run();
    } else {
      for (const name of target) {
        if (paused) insertPause.run(name, now);
        else deletePause.run(name);
      }
    }
    return getIntakePauses();
  }

  function getSinkCursors(): Record<string, number> {
    return Object.fromEntries(selectCursors.all().map((r) => [r.sink, r.last_feed_id]));
  }

  function advanceSinkCursor(sink: string, feedId: number, now: number): void {
    upsertCursor.run(sink, feedId, now);
  }

  return { getIntakePauses, setIntakePaused, getSinkCursors, advanceSinkCursor };
}
