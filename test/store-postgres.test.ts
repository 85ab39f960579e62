import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseJobSpec, type JobSpec } from '../src/core/job-spec.js';
import { decideAfterAttempt } from '../src/core/retry-policy.js';
import { loadMigrations, runMigrations } from '../src/store/postgres/migrate.js';
import { createDatabase } from '../src/store/postgres/postgres-pool.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { describeStoreContract } from '../src/store/store-contract.js';
import type { Store } from '../src/store/store.js';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { leakedServers, startGpuq } from './helpers/gpuq-process.js';
import { TEST_DATABASE_URL, TestSchemas } from './helpers/postgres.js';

/** The Store contract on a real PostgreSQL server, in a fresh schema per test (test/helpers/postgres.ts). */
const schemas = new TestSchemas();

afterAll(async () => {
  try {
    expect(await schemas.leftovers()).toEqual([]);
  } finally {
    await schemas.end();
  }
});

describeStoreContract('postgres', () => schemas.open());

describe('PostgreSQL store specifics', () => {
  const stores: Store[] = [];
  const made: string[] = [];
  const open = async (schema = schemas.newName()): Promise<{ store: Store; schema: string }> => {
    made.push(schema);
    const store = await openPostgresStore({ url: TEST_DATABASE_URL, schema, poolSize: 4 });
    stores.push(store);
    return { store, schema };
  };
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const schema of made.splice(0)) await schemas.drop(schema);
  });

  it('records the applied migrations, once, when several replicas start at once', async () => {
    const schema = schemas.newName();
    await Promise.all([open(schema), open(schema), open(schema), open(schema)]);
    const applied = await schemas.query<{ version: number; name: string }>(`SELECT version, name FROM ${schema}.schema_migrations ORDER BY version`);
    expect(applied).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(applied[0]).toEqual({ version: 1, name: 'init' });
  });

  it('applies each migration in its own transaction: a failing one leaves nothing behind', async () => {
    const schema = schemas.newName();
    made.push(schema);
    const db = createDatabase({ url: TEST_DATABASE_URL, schema, poolSize: 1 });
    try {
      const migrations = [
        { version: 1, name: 'one', sql: 'CREATE TABLE one (a integer)' },
        { version: 2, name: 'two', sql: 'CREATE TABLE two (a integer); INSERT INTO missing VALUES (1);' },
      ];
      await expect(runMigrations(db, 1, schema, migrations)).rejects.toThrow(/missing/);
      const tables = await schemas.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename`, [schema]);
      expect(tables.map((t) => t.tablename)).toEqual(['one', 'schema_migrations']);
      expect(await schemas.query(`SELECT version FROM ${schema}.schema_migrations`)).toEqual([{ version: 1 }]);
      expect(await runMigrations(db, 2, schema, migrations.slice(0, 1))).toEqual([]);
    } finally {
      await db.end();
    }
  });

  it('returns bigint ids and times as JS numbers', async () => {
    const { store, schema } = await open();
    await schemas.query(`ALTER TABLE ${schema}.jobs ALTER COLUMN id RESTART WITH 8589934592`);
    await schemas.query(`ALTER TABLE ${schema}.attempts ALTER COLUMN id RESTART WITH 8589934600`);
    await store.upsertNode({ id: 'n1', hostname: 'h', labels: {}, cpus: 1, memoryMb: 3_000_000, maxRunning: 1, devices: [], incarnation: 'i', lastHeartbeatAt: 1.5, state: 'up' });
    const [out] = await store.submitJobs([parseJobSpec({ type: 'noop' })], 1_700_000_000_000.125);
    expect(out!.job.id).toBe(8_589_934_592);
    const [assigned] = await store.applyPlan([{ jobId: out!.job.id, nodeId: 'n1', devices: [] }], 1_700_000_000_001, 1000);
    expect(assigned!.attemptId).toBe(8_589_934_600);
    const job = await store.getJob(8_589_934_592);
    expect(job).toMatchObject({ id: 8_589_934_592, createdAt: 1_700_000_000_000.125, attempts: 1 });
    expect(await store.listAttempts(8_589_934_592)).toMatchObject([{ id: 8_589_934_600, jobId: 8_589_934_592, assignedAt: 1_700_000_000_001 }]);
    expect((await store.listNodes())[0]).toMatchObject({ memoryMb: 3_000_000, lastHeartbeatAt: 1.5 });
    expect((await store.jobStats()).byQueueState).toEqual([{ queue: 'default', state: 'assigned', count: 1 }]);
  });

  it('submits, places and ends a thousand jobs per call', async () => {
    const { store } = await open();
    await store.upsertNode({ id: 'n1', hostname: 'h', labels: {}, cpus: 64, memoryMb: 1024, maxRunning: 1, devices: [], incarnation: 'i', lastHeartbeatAt: 0, state: 'up' });
    const out = await store.submitJobs(Array.from({ length: 1000 }, (_, i) => parseJobSpec({ type: 'noop', name: `j${i}`, labels: { i: String(i) } })), 1);
    const ids = out.map((o) => o.job.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(1000);
    const assigned = await store.applyPlan(ids.map((jobId) => ({ jobId, nodeId: 'n1', devices: [] })), 2, 1000);
    expect(assigned.map((a) => a.jobId)).toEqual(ids);
    const ended = await store.endAttempts(
      assigned.map((a) => ({ attemptId: a.attemptId, startedAt: 2, end: { state: 'succeeded', retryable: false, reason: 'exited 0' }, exitCode: 0, signal: null, endedAt: 3 })),
      (j, e) => decideAfterAttempt(j, e, 3, 0.5),
      3,
    );
    expect(ended.every((r) => r.accepted && r.jobState === 'succeeded')).toBe(true);
    expect((await store.listEvents(ids[999]!)).map((e) => e.to)).toEqual(['queued', 'assigned', 'running', 'succeeded']);
    expect((await store.listJobs({ labels: { i: '500' } }, { limit: 5 })).items.map((j) => j.id)).toEqual([ids[500]]);
  });

  it('rolls a failing call back whole, leaving calls made alongside unaffected', async () => {
    const { store } = await open();
    const good = parseJobSpec({ type: 'noop', name: 'good' });
    const bad = { ...good, name: null } as unknown as JobSpec; // violates NOT NULL inside the store
    const results = await Promise.allSettled([store.submitJobs([good], 1), store.submitJobs([good, bad], 1), store.submitJobs([good], 1)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await store.listJobs({}, { limit: 10 })).items).toHaveLength(2);
  });

  it('reports a server it cannot reach, or a database that does not exist, as STORE_UNAVAILABLE', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.port = '1';
    await expect(openPostgresStore({ url: url.toString() })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining('--database-url') });
    const missing = new URL(TEST_DATABASE_URL);
    missing.pathname = '/gpuq_no_such_database';
    await expect(openPostgresStore({ url: missing.toString() })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(openPostgresStore({ url: TEST_DATABASE_URL, schema: 'x; DROP TABLE jobs' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('gpuq up --database-url', () => {
  it('keeps the store in PostgreSQL: jobs run, health names the store, and the data is in the database', async () => {
    // The URL's own options (here the search_path) reach every connection.
    const { schema, url } = await schemas.createForServer();
    try {
      const gpuq = await startGpuq({ fakeGpus: 2, args: ['--database-url', url] });
      try {
        const gpu = await gpuq.client.submit({ shell: 'test "$CUDA_VISIBLE_DEVICES" = 0', gpus: 1 });
        const noops = await gpuq.client.submitBatch(Array.from({ length: 20 }, () => ({ type: 'noop' as const })));
        const ids = [gpu.job.id, ...noops.jobs.map((j) => j.id)];
        const done = await waitForJobs(gpuq.client, ids, Date.now() + 20_000);
        expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));
        expect((await gpuq.client.health()).store).toMatchObject({ ok: true, kind: 'postgres' });
      } finally {
        await gpuq.stop();
      }
      expect(leakedServers()).toBe(0);
      expect(await schemas.query(`SELECT state, count(*)::int AS n FROM ${schema}.jobs GROUP BY state`)).toEqual([{ state: 'succeeded', n: 21 }]);
    } finally {
      await schemas.drop(schema);
    }
  });
});
