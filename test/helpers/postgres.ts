import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { OpenedStore } from '../../src/store/store-contract.js';
import type { Store } from '../../src/store/store.js';

/**
 * The PostgreSQL server the tests use: GPUQ_TEST_DATABASE_URL, or the local
 * server .ci/run starts (trust authentication, database `test`).
 */
export const TEST_DATABASE_URL = process.env.GPUQ_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Every schema the tests create starts with this, followed by the process id and a random part. */
const PREFIX = `gpuq_test_${process.pid}_`;

/**
 * Fresh schemas in the test database, one per test: opening a store in a new schema migrates it (the
 * real migration path, ~tens of ms), and dropping the schema removes everything the test wrote. Faster
 * than cloning a template database per test (CREATE DATABASE copies files and waits for a checkpoint), and
 * it needs no exclusive access to a template, so test files and CI runs can share one server.
 */
export class TestSchemas {
  private readonly admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });

  /** A name no other test, process or run uses. */
  newName(): string {
    return PREFIX + randomBytes(6).toString('hex');
  }

  /** A fresh, migrated, empty store in a schema of its own, as the Store contract wants it. */
  async open(): Promise<OpenedStore> {
    const schema = this.newName();
    const stores: Store[] = [await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4 })];
    return {
      store: stores[0]!,
      reopen: async () => {
        const store = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4 });
        stores.push(store);
        return store;
      },
      cleanup: async () => {
        for (const s of stores) await s.close();
        await this.drop(schema);
      },
    };
  }

  /**
   * Creates a fresh, empty schema for a server to migrate, and returns the schema and a database URL
   * whose connections use it (`?options=-c search_path=…`, as an operator would pass it).
   */
  async createForServer(): Promise<{ schema: string; url: string }> {
    const schema = this.newName();
    await this.query(`CREATE SCHEMA ${schema}`);
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${schema}`);
    return { schema, url: url.toString() };
  }

  /** Runs SQL as the administrator, for what a test must set up or inspect behind the store's back. */
  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    return (await this.admin.query<R>(sql, params)).rows;
  }

  async drop(schema: string): Promise<void> {
    await this.admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }

  /** Schemas of this process still in the database: a test that leaks one fails the file. */
  async leftovers(): Promise<string[]> {
    const rows = await this.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname`, [PREFIX]);
    return rows.map((r) => r.nspname);
  }

  async end(): Promise<void> {
    await this.admin.end();
  }

  /** For a test file's afterAll: drops what its servers left (they keep their schemas while running), then disconnects. */
  async dropAllAndEnd(): Promise<void> {
    for (const s of await this.leftovers()) await this.drop(s);
    await this.end();
  }
}
