import pg from 'pg';
import type { CustomTypesConfig, PoolClient, QueryResultRow } from 'pg';
import { GpuqError, ValidationError } from '../../core/errors.js';

/**
 * The connection pool and the transaction helpers every query module runs in.
 *
 * - `write(fn)`: BEGIN (READ COMMITTED) … COMMIT on one pooled connection; the
 *   promise resolves only after the COMMIT. A deadlock or serialization failure
 *   is retried a few times from the start (every fn is a pure function of its
 *   arguments and the database, so running it again is safe); other errors
 *   roll back and reject.
 * - `read(fn)`: a REPEATABLE READ READ ONLY transaction, so every statement of a
 *   read that takes several sees one snapshot.
 * - `query(sql, params)`, `execute(sql, params)`: one statement on its own,
 *   which PostgreSQL runs as its own transaction (retried the same way); used
 *   where a method is a single statement, saving the BEGIN and COMMIT round trips.
 */

/** What query modules get: a connection inside the caller's transaction. */
export interface Sql {
  query<R extends QueryResultRow>(text: string, params?: unknown[]): Promise<R[]>;
  /** Rows changed by a statement without RETURNING. */
  execute(text: string, params?: unknown[]): Promise<number>;
}

export interface PgDatabase extends Sql {
  write<R>(fn: (sql: Sql) => Promise<R>): Promise<R>;
  read<R>(fn: (sql: Sql) => Promise<R>): Promise<R>;
  end(): Promise<void>;
}

export interface PoolOptions {
  url: string;
  /** Schema the store's tables live in (search_path); the server's default search_path when absent. */
  schema?: string;
  poolSize: number;
}

/** A new connection that cannot be made in this long fails with STORE_UNAVAILABLE (SQLite's busy timeout is the same). */
const CONNECT_TIMEOUT_MS = 5000;
/** Idle connections are closed after this long, so a quiet server holds few. */
const IDLE_TIMEOUT_MS = 30_000;
/**
 * PostgreSQL ends a session that sits inside a transaction without sending anything for this long, which
 * rolls the transaction back and frees its locks. gpuq sends a transaction's statements back to back, so
 * only a stalled process (SIGSTOP, a paused VM, a hung event loop) gets there; without it, a leader paused
 * inside a fenced write would hold its FOR SHARE lock on the lease row, and the takeover's FOR UPDATE (and
 * every write touching the rows it locked) would wait until it woke. Kept under the leader lease (6 s by
 * default), so a takeover is delayed by at most this.
 */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 3000;
/** Attempts of a write transaction that hit a deadlock or a serialization failure. */
const MAX_TRIES = 4;

const INT8_OID = 20;
/** ids, counts and memory sizes are bigint; JS numbers hold them exactly up to 2^53, far past anything gpuq counts. */
const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

export function createDatabase(opts: PoolOptions): PgDatabase {
  const pool = new pg.Pool({
    ...connectionConfig(opts.url, opts.schema),
    max: opts.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    application_name: 'gpuq',
    types,
  });
  // An idle connection that breaks (server restart, network) emits 'error' on the pool; without a
  // listener Node would crash. The pool drops the connection; the next call opens a new one or
  // fails with STORE_UNAVAILABLE, which is where the failure is reported.
  pool.on('error', () => {});

  const onClient = (client: Pick<PoolClient, 'query'>): Sql => ({
    query: async <R extends QueryResultRow>(text: string, params?: unknown[]) => (await client.query<R>(text, params)).rows,
    execute: async (text: string, params?: unknown[]) => (await client.query(text, params)).rowCount ?? 0,
  });

  async function transaction<R>(begin: string, retry: boolean, fn: (sql: Sql) => Promise<R>): Promise<R> {
    for (let tries = 1; ; tries++) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw mapError(err);
      }
      // The pool listens for errors only on idle connections; a connection lost while checked out would
      // otherwise be an unhandled 'error' event. The next query on it fails, and that failure is reported.
      const ignore = (): void => {};
      client.on('error', ignore);
      try {
        await client.query(begin);
        const result = await fn(onClient(client));
        await client.query('COMMIT');
        client.off('error', ignore);
        client.release();
        return result;
      } catch (err) {
        // A connection whose ROLLBACK fails is broken: release(err) closes it instead of pooling it.
        const broken = await client.query('ROLLBACK').then(
          () => undefined,
          (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
        );
        client.off('error', ignore);
        client.release(broken ?? false);
        if (retry && tries < MAX_TRIES && isTransient(err)) continue;
        throw mapError(err);
      }
    }
  }

  /** One statement outside BEGIN … COMMIT: its own transaction, retried like one. */
  async function alone<R>(run: () => Promise<R>): Promise<R> {
    for (let tries = 1; ; tries++) {
      try {
        return await run();
      } catch (err) {
        if (tries < MAX_TRIES && isTransient(err)) continue;
        throw mapError(err);
      }
    }
  }

  const direct = onClient(pool);
  return {
    query: (text, params) => alone(() => direct.query(text, params)),
    execute: (text, params) => alone(() => direct.execute(text, params)),
    write: (fn) => transaction('BEGIN', true, fn),
    read: (fn) => transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', false, fn),
    end: () => pool.end(),
  };
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The pool's connection settings. The schema goes into the startup packet's `options`
 * (`-c search_path=…`), so every connection of the pool uses it from its first statement;
 * `options` from the URL are kept (pg lets the URL's values win over ours, so they are merged here).
 */
export function connectionConfig(url: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (schema === undefined) return { connectionString: url };
  if (!SCHEMA_NAME.test(schema)) throw new ValidationError([{ path: 'schema', message: 'must be a plain lower-case identifier (a-z, 0-9, _; at most 63 characters)' }]);
  const parsed = new URL(url);
  const fromUrl = parsed.searchParams.get('options');
  parsed.searchParams.delete('options');
  return { connectionString: parsed.toString(), options: [fromUrl, `-c search_path=${schema}`].filter(Boolean).join(' ') };
}

/** SQLSTATEs worth running a write again for: deadlock_detected, serialization_failure. */
function isTransient(err: unknown): boolean {
  const code = sqlState(err);
  return code === '40P01' || code === '40001';
}

/**
 * SQLSTATE classes and codes that mean "the database cannot serve right now", not "the caller did
 * something wrong": connection exceptions (08), insufficient resources (53: disk full, too many
 * connections), operator intervention (57P01-57P05: shutdown, cannot connect now), system errors (58),
 * a read-only server (25006: a standby after a failover), rejected credentials (28) and a missing
 * database (3D000), and corruption (XX001, XX002).
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|58|28|57P0|3D000|25006|XX00[12])/;
/** Errors of the socket under the connection. */
const UNAVAILABLE_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE']);
/** node-postgres reports a lost or never-made connection as a plain Error with one of these messages. */
const UNAVAILABLE_MESSAGE = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Query read timeout)/;

/** Turns a connection failure into STORE_UNAVAILABLE; every other error is returned as it is. */
export function mapError(err: unknown): unknown {
  if (err instanceof GpuqError) return err;
  const code = sqlState(err);
  const unavailable =
    (code !== undefined && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SOCKET.has(code))) ||
    (err instanceof Error && UNAVAILABLE_MESSAGE.test(err.message));
  if (!unavailable) return err;
  // An AggregateError (every address of a host refused) has an empty message but the code of its first error.
  const detail = (err instanceof Error ? err.message : String(err)) || (code ?? 'no detail');
  return new GpuqError(
    'STORE_UNAVAILABLE',
    `the PostgreSQL database is unavailable: ${detail}. Check that PostgreSQL is running and reachable at the --database-url (GPUQ_DATABASE_URL) address, that the database exists and the user may connect, and that the server has free disk space and connections.`,
    { cause: err },
  );
}

function sqlState(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
