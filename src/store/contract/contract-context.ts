import type { Store } from '../store.js';

/** What a database's test file hands the Store contract: a fresh, migrated, empty store per test. */
export interface OpenedStore {
  store: Store;
  /**
   * Opens the same data again, as a restarted server would. The test closes
   * `store` first; what it committed must still be there.
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
}
