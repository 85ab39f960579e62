/**
 * What differs between the databases a Store runs on, named in one place so
 * callers and the contract suite ask a capability instead of testing which
 * database they have. Only differences something reads are listed.
 */
export interface StoreCapabilities {
  /** The store's name, as /health/detailed reports it. */
  readonly name: StoreName;
  /**
   * Several gpuq servers (control-plane replicas, on different hosts) may share the store at once.
   * PostgreSQL: yes, applyPlan's row locks and the schema's constraints keep placements safe.
   * SQLite: no, the database is a local file, and WAL works only between processes of one host.
   */
  readonly replicas: boolean;
}

export type StoreName = 'sqlite' | 'postgres';

export const STORE_CAPABILITIES: Readonly<Record<StoreName, StoreCapabilities>> = Object.freeze({
  sqlite: Object.freeze({ name: 'sqlite', replicas: false }),
  postgres: Object.freeze({ name: 'postgres', replicas: true }),
});
