import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJobSpec, type JobSpec } from '../src/core/job-spec.js';
import { loadMigrations, runMigrations } from '../src/store/sqlite/migrate.js';
import { DB_FILE_NAME, openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { describeStoreContract } from '../src/store/store-contract.js';
import type { Store } from '../src/store/store.js';

/** The Store contract on a real SQLite file, in a fresh temporary directory per test. */
describeStoreContract('sqlite', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gpuq-store-'));
  const stores: Store[] = [await openSqliteStore({ dataDir })];
  return {
    store: stores[0]!,
    reopen: async () => {
      const store = await openSqliteStore({ dataDir });
      stores.push(store);
      return store;
    },
    cleanup: async () => {
      for (const s of stores) await s.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});

describe('SQLite store specifics', () => {
  const dirs: string[] = [];
  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'gpuq-sqlite-'));
    dirs.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('creates the data directory, uses WAL and records the applied migrations', async () => {
    const dataDir = join(tempDir(), 'nested', 'data');
    const store = await openSqliteStore({ dataDir, durability: 'strict' });
    await store.migrate();
    await store.close();
    const db = new Database(join(dataDir, DB_FILE_NAME), { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const applied = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      expect(applied).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
      expect(applied[0]).toEqual({ version: 1, name: 'init' });
    } finally {
      db.close();
    }
  });

  it('commits the writes of one event-loop turn together, each still atomic on its own', async () => {
    const store = await openSqliteStore({ dataDir: tempDir() });
    try {
      const good = parseJobSpec({ type: 'noop', name: 'good' });
      const bad = { ...good, name: null } as unknown as JobSpec; // violates NOT NULL inside the store
      const results = await Promise.allSettled([store.submitJobs([good], 1), store.submitJobs([good, bad], 1), store.submitJobs([good], 1)]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      const listed = await store.listJobs({}, { limit: 10 });
      expect(listed.items).toHaveLength(2);
      // A lone call that fails rejects too, and leaves nothing behind.
      await expect(store.submitJobs([good, bad], 2)).rejects.toThrow();
      expect((await store.listJobs({}, { limit: 10 })).items).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it('lets a read issued after a write, without awaiting it, see the write', async () => {
    const store = await openSqliteStore({ dataDir: tempDir() });
    try {
      const submitted = store.submitJobs([parseJobSpec({ type: 'noop' })], 1);
      const listed = store.listJobs({}, { limit: 10 });
      const [[outcome], page] = await Promise.all([submitted, listed]);
      expect(page.items.map((j) => j.id)).toEqual([outcome!.job.id]);
    } finally {
      await store.close();
    }
  });

  it('runs writes still queued when it is closed', async () => {
    const dataDir = tempDir();
    const store = await openSqliteStore({ dataDir });
    const submitted = store.submitJobs([parseJobSpec({ type: 'noop', name: 'last' })], 1);
    await store.close();
    const [outcome] = await submitted;
    const reopened = await openSqliteStore({ dataDir });
    try {
      expect((await reopened.getJob(outcome!.job.id))?.name).toBe('last');
    } finally {
      await reopened.close();
    }
  });

  it('reports a data directory it cannot use as STORE_UNAVAILABLE', async () => {
    const file = join(tempDir(), 'not-a-dir');
    writeFileSync(file, 'x');
    await expect(openSqliteStore({ dataDir: file })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('applies each migration in its own transaction: a failing one leaves nothing behind', () => {
    const db = new Database(':memory:');
    try {
      const migrations = [
        { version: 1, name: 'one', sql: 'CREATE TABLE one (a INTEGER)' },
        { version: 2, name: 'two', sql: 'CREATE TABLE two (a INTEGER); INSERT INTO missing VALUES (1);' },
      ];
      expect(() => runMigrations(db, 1, migrations)).toThrow(/missing/);
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).pluck().all();
      expect(tables).toEqual(['one', 'schema_migrations']);
      expect(db.prepare('SELECT version FROM schema_migrations').pluck().all()).toEqual([1]);
      expect(runMigrations(db, 2, migrations.slice(0, 1))).toEqual([]);
    } finally {
      db.close();
    }
  });

  it('refuses migration files that are misnamed or leave a gap', async () => {
    const dir = tempDir();
    await mkdir(join(dir, 'gap'));
    writeFileSync(join(dir, 'gap', '0001-a.sql'), 'SELECT 1;');
    writeFileSync(join(dir, 'gap', '0003-c.sql'), 'SELECT 1;');
    expect(() => loadMigrations(pathToFileURL(join(dir, 'gap') + '/'))).toThrow(/without gaps/);
    await mkdir(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'init.sql'), 'SELECT 1;');
    expect(() => loadMigrations(pathToFileURL(join(dir, 'bad') + '/'))).toThrow(/NNNN-name\.sql/);
  });
});
