import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Numbered SQL migration files (`NNNN-name.sql`), as every store keeps them in a
 * `migrations/` folder beside its code, both in src/ and, copied by
 * scripts/copy-assets.mjs, in dist/. How they are applied (transactions, locks)
 * is each store's business; reading and ordering them is the same everywhere.
 */

const FILE_NAME = /^(\d{4})-([a-z0-9-]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads the migration files of `dir`, in version order; refuses gaps and duplicates so a bad file name fails loudly. */
export function loadMigrationFiles(dir: URL): Migration[] {
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
