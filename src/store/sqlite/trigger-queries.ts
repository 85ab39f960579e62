import type { Database } from 'better-sqlite3';
import { TriggerExistsError } from '../../core/errors.js';
import type { Trigger, TriggerSpec } from '../../core/trigger-spec.js';
import type { OpenClaim } from '../trigger-store.js';

/** Directory triggers (store/trigger-store.ts, migration 0017) on SQLite, inside the caller's transaction (sqlite-store.ts). */

interface TriggerRow {
  name: string;
  spec: string;
  paused: number;
  created_at: number;
}
interface ClaimRow {
  id: number;
  trigger: string;
  file: string;
  claimed_at: number;
  run_id: number | null;
  run_state: string | null;
  run_reason: string | null;
}

const COLUMNS = `name, spec, paused, created_at`;
const triggerFromRow = (r: TriggerRow): Trigger => ({ name: r.name, spec: JSON.parse(r.spec) as TriggerSpec, paused: r.paused === 1, createdAt: r.created_at });
const claimFromRow = (r: ClaimRow): OpenClaim => ({ id: r.id, trigger: r.trigger, file: r.file, claimedAt: r.claimed_at, runId: r.run_id, runState: r.run_state as OpenClaim['runState'], runReason: r.run_reason });

export type TriggerQueries = ReturnType<typeof prepareTriggerQueries>;

export function prepareTriggerQueries(db: Database) {
  const insert = db.prepare<[string, string, number], TriggerRow>(`INSERT INTO triggers (name, spec, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`);
  const remove = db.prepare<[string]>(`DELETE FROM triggers WHERE name = ?`);
  const selectOne = db.prepare<[string], TriggerRow>(`SELECT ${COLUMNS} FROM triggers WHERE name = ?`);
  const selectAll = db.prepare<[], TriggerRow>(`SELECT ${COLUMNS} FROM triggers ORDER BY name`);
  const setPausedOf = db.prepare<[number, string, number], TriggerRow>(`UPDATE triggers SET paused = ? WHERE name IN (SELECT value FROM json_each(?)) AND paused <> ? RETURNING ${COLUMNS}`);
  const setPausedAll = db.prepare<[number, number], TriggerRow>(`UPDATE triggers SET paused = ? WHERE paused <> ? RETURNING ${COLUMNS}`);
  const insertClaim = db.prepare<[string, string, number], { id: number }>(`INSERT INTO trigger_claims (trigger, file, claimed_at) VALUES (?, ?, ?) RETURNING id`);
  const selectOpen = db.prepare<[string], ClaimRow>(
    `SELECT c.id, c.trigger, c.file, c.claimed_at, c.run_id, r.state AS run_state, r.reason AS run_reason
       FROM trigger_claims c LEFT JOIN pipeline_runs r ON r.id = c.run_id
      WHERE c.trigger = ? AND c.settled IS NULL ORDER BY c.id`,
  );
  const settle = db.prepare<[string, number, number]>(`UPDATE trigger_claims SET settled = ?, settled_at = ? WHERE id = ? AND settled IS NULL`);

  return {
    createTrigger(spec: TriggerSpec, now: number): Trigger {
      const row = insert.get(spec.name, JSON.stringify(spec), now);
      if (!row) throw new TriggerExistsError(spec.name);
      return triggerFromRow(row);
    },
    deleteTrigger: (name: string): boolean => remove.run(name).changes > 0,
    getTrigger(name: string): Trigger | null {
      const row = selectOne.get(name);
      return row ? triggerFromRow(row) : null;
    },
    listTriggers: (): Trigger[] => selectAll.all().map(triggerFromRow),
    setTriggersPaused(names: string[] | 'all', paused: boolean): Trigger[] {
      const p = paused ? 1 : 0;
      return (names === 'all' ? setPausedAll.all(p, p) : setPausedOf.all(p, JSON.stringify(names), p)).map(triggerFromRow);
    },
    claimTriggerFiles: (trigger: string, files: string[], now: number): number[] => files.map((file) => insertClaim.get(trigger, file, now)!.id),
    openTriggerClaims: (trigger: string): OpenClaim[] => selectOpen.all(trigger).map(claimFromRow),
    settleTriggerClaim(id: number, settled: 'done' | 'failed' | 'lost', now: number): void {
      settle.run(settled, now, id);
    },
  };
}
