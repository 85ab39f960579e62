import type { StoreCapabilities } from '../store-capabilities.js';
import type { Store } from '../store.js';

/** What a database's test file hands the Store contract: a fresh, migrated, empty store per test. */
export interface OpenedStore {
  store: Store;
  /**
   * Opens the same data again, with connections of its own: as a restarted
   * server would (the test closes `store` first, and what it committed must
   * still be there), or, where the store allows replicas, as a second server
   * while `store` stays open.
   */
  reopen(): Promise<Store>;
  /** Closes every store this handle opened (already closed ones too) and deletes the data. */
  cleanup(): Promise<void>;
}

/** What the parts of the suite share: the store of the running test, and the factory for tests that need more than one. */
export interface ContractContext {
  readonly store: Store;
  readonly opened: OpenedStore;
  readonly open: () => Promise<OpenedStore>;
  /** What the store under test promises beyond the common contract; parts of the suite run only where it does. */
  readonly capabilities: StoreCapabilities;
}
