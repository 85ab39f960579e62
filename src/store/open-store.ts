import { openPostgresStore } from './postgres/postgres-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import { STORE_CAPABILITIES, type StoreCapabilities } from './store-capabilities.js';
import type { Store } from './store.js';

export interface StoreLocation {
  /** PostgreSQL when set; the SQLite file in `dataDir` otherwise. */
  databaseUrl?: string;
  dataDir: string;
  /** SQLite only. @default 'normal' */
  durability?: 'normal' | 'strict';
  /** PostgreSQL only: most connections at once. @default 10 */
  poolSize?: number;
}

/** Opens (and migrates) the store a server or a CLI command was pointed at, with what its database can do. */
export async function openStore(where: StoreLocation): Promise<{ store: Store; capabilities: StoreCapabilities }> {
  if (where.databaseUrl !== undefined) {
    return { store: await openPostgresStore({ url: where.databaseUrl, poolSize: where.poolSize }), capabilities: STORE_CAPABILITIES.postgres };
  }
  return { store: await openSqliteStore({ dataDir: where.dataDir, durability: where.durability }), capabilities: STORE_CAPABILITIES.sqlite };
}
