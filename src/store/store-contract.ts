import { afterEach, beforeEach, describe } from 'vitest';
import { jobContract } from './contract/job-contract.js';
import { nodeContract } from './contract/node-contract.js';
import { schedulingContract } from './contract/scheduling-contract.js';
import type { ContractContext, OpenedStore } from './contract/contract-context.js';

/**
 * The behaviour every Store must show, as one vitest suite run against each
 * database (test/store-sqlite.test.ts, later PostgreSQL):
 *
 *   for (const [name, open] of STORES) describeStoreContract(name, open);
 *
 * Each test gets a fresh, migrated, empty store from `open`. Decisions come
 * from the real retry policy (core/retry-policy.ts) at fixed times and a fixed
 * random input, so every expected value is exact.
 */

export type { ContractContext, OpenedStore };

export function describeStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    let opened: OpenedStore | undefined;
    const ctx: ContractContext = {
      get store() {
        if (!opened) throw new Error('no store is open: the contract opens one in beforeEach');
        return opened.store;
      },
      get opened() {
        if (!opened) throw new Error('no store is open: the contract opens one in beforeEach');
        return opened;
      },
      open,
    };
    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    jobContract(ctx);
    schedulingContract(ctx);
    nodeContract(ctx);
  });
}
