import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Database } from 'better-sqlite3';

/**
 * Numbered SQL migrations (`NNNN-name.sql`, in ./migrations next to this file
 * both in src/ and, copied by scripts/copy-assets.mjs, in dist/). Each one runs
 * in its own BEGIN IMMEDIATE transaction, which takes SQLite's write lock before
 * it reads `schema_migrations`: two processes migrating one file apply each
 * migration once, one after the other (SQLite's stand-in for an advisory lock).
 */

const MIGRATIONS_DIR = new URL('./migrations/', import.meta.url);
const FILE_NAME = /^(\d{4})-([a-z0-9-]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads the migration files, in version order; refuses gaps and duplicates so a bad file name fails loudly. */
export function loadMigrations(dir: URL = MIGRATIONS_DIR): Migration[] {
  const path = fileURLToPath(dir);
  const migrations = readdirSync(path)
    .filter((f) => f.endsWith('.sql'))
    .map((file) => {
      const m = FILE_NAME.exec(file);
      if (!m) throw new Error(`migration file "${file}" in ${path} must be named NNNN-name.sql`);
      return { version: Number(m[1]), name: m[2] ?? file, sql: readFileSync(new URL(file, dir), 'utf8') };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations in ${path} must be numbered 0001, 0002, … without gaps; found ${String(m.version).padStart(4, '0')}-${m.name}.sql at position ${i + 1}`);
  });
  return migrations;
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
