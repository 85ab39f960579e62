import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_PRINCIPAL } from './core/access.js';
import { systemClock } from './core/clock.js';
import { loadServerConfig } from './config.js';
import { parseRequest, newTokenBody } from './control-plane/request-schemas.js';
import { issueToken, type IssuedToken } from './control-plane/tokens.js';
import { openStore } from './store/open-store.js';
import { DB_FILE_NAME } from './store/sqlite/sqlite-store.js';

/**
 * `gpuq token create --data-dir DIR | --database-url URL`: creates a token
 * straight in the store, with no server. That is how the first admin token of a
 * server with auth required comes to be: whoever can open its database (its
 * data directory, or its PostgreSQL with the server's credentials) already
 * controls it, so this needs no token. The store is migrated first, so a token
 * can also be made before the server's first start. The audit log records the
 * creation, by `local`.
 */
export async function createTokenInStore(where: { dataDir?: string; databaseUrl?: string }, input: { name: unknown; role: unknown }): Promise<{ issued: IssuedToken; newDatabase: boolean }> {
  const { name, role } = parseRequest(newTokenBody, input);
  // Validates the URL and resolves the directory as `gpuq up` does, from the flags alone: a GPUQ_DATABASE_URL
  // in the environment must not send a token meant for --data-dir to another store.
  const config = loadServerConfig({ dataDir: where.dataDir, databaseUrl: where.databaseUrl }, {});
  // A mistyped --data-dir would otherwise put the token in a new, empty database no server uses: the caller says so.
  const newDatabase = config.databaseUrl === undefined && !existsSync(join(config.dataDir, DB_FILE_NAME));
  const { store } = await openStore({ ...config, poolSize: 1 });
  try {
    const how = config.databaseUrl === undefined ? `--data-dir ${config.dataDir}` : '--database-url';
    const issued = await issueToken(store, systemClock.now(), { name, role }, LOCAL_PRINCIPAL, `role ${role}; created in the database directly (gpuq token create ${how})`);
    return { issued, newDatabase };
  } finally {
    await store.close();
  }
}
