import { loadMigrationFiles, type Migration } from '../migration-files.js';
import type { PgDatabase } from './postgres-pool.js';

/**
 * Numbered SQL migrations (`NNNN-name.sql` in ./migrations, copied to dist/ by
 * scripts/copy-assets.mjs). Each one runs in its own transaction, which first
 * takes a transaction-scoped advisory lock: several replicas starting at once
 * apply each migration once, one after the other, and a replica that waited
 * finds it recorded in `schema_migrations` and skips it. A migration that fails
 * rolls back whole, its record with it.
 */

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/**
 * The advisory lock key of migrations: "gpuq" in ASCII. Advisory locks are per database, so
 * stores in different schemas of one database take turns too (harmless: migrations are rare).
 */
const MIGRATION_LOCK_KEY = 0x67707571;

const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY, name text NOT NULL, applied_at double precision NOT NULL)`;
/** Parameters: version. */
const SELECT_APPLIED = `SELECT version FROM schema_migrations WHERE version = $1`;
/** Parameters: version, name, applied_at. */
const RECORD = `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`;

export type { Migration };

/** Reads this store's migration files, in version order. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return loadMigrationFiles(dir);
}

/**
 * Applies the migrations not yet recorded; returns the versions applied now. Idempotent.
 * `schema` (already validated as a plain identifier) is created first when given.
 */
export async function runMigrations(db: PgDatabase, now: number, schema: string | undefined, migrations: Migration[] = loadMigrations()): Promise<number[]> {
  const applied: number[] = [];
  for (const m of migrations) {
    const ran = await db.write(async (sql) => {
      await sql.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      if (schema !== undefined) await sql.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await sql.query(CREATE_MIGRATIONS_TABLE);
      if ((await sql.query(SELECT_APPLIED, [m.version])).length > 0) return false;
      // No parameters: sent as a simple query, so a file may hold many statements.
      await sql.query(m.sql);
      await sql.query(RECORD, [m.version, m.name, now]);
      return true;
    });
    if (ran) applied.push(m.version);
  }
  return applied;
}
