import { TriggerExistsError } from '../../core/errors.js';
import type { Trigger, TriggerSpec } from '../../core/trigger-spec.js';
import type { OpenClaim } from '../trigger-store.js';
import type { Sql } from './postgres-pool.js';

/** Directory triggers (store/trigger-store.ts, migration 0017) on PostgreSQL: each function one statement. */

interface TriggerRow {
  name: string;
  spec: TriggerSpec;
  paused: boolean;
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
const triggerFromRow = (r: TriggerRow): Trigger => ({ name: r.name, spec: r.spec, paused: r.paused, createdAt: r.created_at });
const claimFromRow = (r: ClaimRow): OpenClaim => ({ id: r.id, trigger: r.trigger, file: r.file, claimedAt: r.claimed_at, runId: r.run_id, runState: r.run_state as OpenClaim['runState'], runReason: r.run_reason });

export async function createTrigger(sql: Sql, spec: TriggerSpec, now: number): Promise<Trigger> {
  const [row] = await sql.query<TriggerRow>(`INSERT INTO triggers (name, spec, created_at) VALUES ($1, $2::json, $3) ON CONFLICT (name) DO NOTHING RETURNING ${COLUMNS}`, [spec.name, JSON.stringify(spec), now]);
  if (!row) throw new TriggerExistsError(spec.name);
  return triggerFromRow(row);
}

export async function deleteTrigger(sql: Sql, name: string): Promise<boolean> {
  return (await sql.execute(`DELETE FROM triggers WHERE name = $1`, [name])) > 0;
}

export async function getTrigger(sql: Sql, name: string): Promise<Trigger | null> {
  const [row] = await sql.query<TriggerRow>(`SELECT ${COLUMNS} FROM triggers WHERE name = $1`, [name]);
  return row ? triggerFromRow(row) : null;
}

export async function listTriggers(sql: Sql): Promise<Trigger[]> {
  return (await sql.query<TriggerRow>(`SELECT ${COLUMNS} FROM triggers ORDER BY name`)).map(triggerFromRow);
}

export async function setTriggersPaused(sql: Sql, names: string[] | 'all', paused: boolean): Promise<Trigger[]> {
  const rows = await sql.query<TriggerRow>(`UPDATE triggers SET paused = $1 WHERE paused <> $1 AND ($2::text[] IS NULL OR name = ANY($2::text[])) RETURNING ${COLUMNS}`, [paused, names === 'all' ? null : names]);
  return rows.map(triggerFromRow);
}

export async function claimTriggerFiles(sql: Sql, trigger: string, files: string[], now: number): Promise<number[]> {
  // The names of one listing are distinct: each id is matched back to its file (RETURNING promises no order).
  const rows = await sql.query<{ id: number; file: string }>(
    `INSERT INTO trigger_claims (trigger, file, claimed_at) SELECT $1, f, $3 FROM unnest($2::text[]) WITH ORDINALITY AS t(f, n) ORDER BY n RETURNING id, file`,
    [trigger, files, now],
  );
  const byFile = new Map(rows.map((r) => [r.file, r.id]));
  return files.map((f) => byFile.get(f)!);
}

export async function openTriggerClaims(sql: Sql, trigger: string): Promise<OpenClaim[]> {
  const rows = await sql.query<ClaimRow>(
    `SELECT c.id, c.trigger, c.file, c.claimed_at, c.run_id, r.state AS run_state, r.reason AS run_reason
       FROM trigger_claims c LEFT JOIN pipeline_runs r ON r.id = c.run_id
      WHERE c.trigger = $1 AND c.settled IS NULL ORDER BY c.id`,
    [trigger],
  );
  return rows.map(claimFromRow);
}

export async function settleTriggerClaim(sql: Sql, id: number, settled: 'done' | 'failed' | 'lost', now: number): Promise<void> {
  await sql.execute(`UPDATE trigger_claims SET settled = $1, settled_at = $2 WHERE id = $3 AND settled IS NULL`, [settled, now, id]);
}

/** Records `runId` as the claim's run, in the run's transaction; false when the claim already has one. */
export async function takeClaim(sql: Sql, claim: number, runId: number): Promise<boolean> {
  return (await sql.execute(`UPDATE trigger_claims SET run_id = $1 WHERE id = $2 AND run_id IS NULL`, [runId, claim])) > 0;
}
