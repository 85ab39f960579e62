import type { Database } from 'better-sqlite3';
import { loadMigrationFiles, type Migration } from '../migration-files.js';

/**
 * Numbered SQL migrations (`NNNN-name.sql`, in ./migrations next to this file
 * both in src/ and, copied by scripts/copy-assets.mjs, in dist/). Each one runs
 * in its own BEGIN IMMEDIATE transaction, which takes SQLite's write lock before
 * it reads `schema_migrations`: two processes migrating one file apply each
 * migration once, one after the other (SQLite's stand-in for an advisory lock).
 */

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);

/** This store's migration files, in version order. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  return loadMigrationFiles(dir);
}

/** Applies the migrations not yet recorded; returns the versions applied now. Idempotent. */
export function runMigrations(db: Database, now: number, migrations: Migration[] = loadMigrations()): number[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL) STRICT');
  const isApplied = db.prepare<[number], { version: number }>('SELECT version FROM schema_migrations WHERE version = ?');
  const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of migrations) {
    const apply = db.transaction(() => {
      if (isApplied.get(m.version)) return;
      db.exec(m.sql);
      record.run(m.version, m.name, now);
      applied.push(m.version);
    });
    apply.immediate();
  }
  return applied;
}
