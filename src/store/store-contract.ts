import { afterEach, beforeEach, describe } from 'vitest';
import { accessContract } from './contract/access-contract.js';
import { dependencyContract } from './contract/dependency-contract.js';
import { eventsContract } from './contract/events-contract.js';
import { feedContract } from './contract/feed-contract.js';
import { gpuUsageContract } from './contract/gpu-usage-contract.js';
import { intakeContract } from './contract/intake-contract.js';
import { jobContract } from './contract/job-contract.js';
import { jobListingContract } from './contract/job-listing-contract.js';
import { leadershipContract } from './contract/leadership-contract.js';
import { nodeAdminContract } from './contract/node-admin-contract.js';
import { nodeContract } from './contract/node-contract.js';
import { outputContract } from './contract/output-contract.js';
import { pipelineContract } from './contract/pipeline-contract.js';
import { scheduleContract } from './contract/schedule-contract.js';
import { triggerContract } from './contract/trigger-contract.js';
import { poolContract } from './contract/pool-contract.js';
import { poolTaskContract } from './contract/pool-task-contract.js';
import { replicaContract } from './contract/replica-contract.js';
import { reportContract } from './contract/report-contract.js';
import { schedulingContract } from './contract/scheduling-contract.js';
import type { ContractContext, OpenedStore } from './contract/contract-context.js';
import { STORE_CAPABILITIES, type StoreName } from './store-capabilities.js';

/**
 * The behaviour every Store must show, as one vitest suite run against each
 * database (test/store-sqlite.test.ts, test/store-postgres.test.ts):
 *
 *   describeStoreContract('postgres', open);
 *
 * Each test gets a fresh, migrated, empty store from `open`. Decisions come
 * from the real retry policy (core/retry-policy.ts) at fixed times and a fixed
 * random input, so every expected value is exact. Parts that only some stores
 * promise run where the store's capabilities (store-capabilities.ts) say so.
 */

export type { ContractContext, OpenedStore };

export function describeStoreContract(name: StoreName, open: () => Promise<OpenedStore>): void {
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
      capabilities: STORE_CAPABILITIES[name],
    };
    beforeEach(async () => {
      opened = await open();
    });
    afterEach(async () => {
      await opened?.cleanup();
      opened = undefined;
    });

    jobContract(ctx);
    jobListingContract(ctx);
    dependencyContract(ctx);
    outputContract(ctx);
    schedulingContract(ctx);
    nodeContract(ctx);
    nodeAdminContract(ctx);
    accessContract(ctx);
    leadershipContract(ctx);
    eventsContract(ctx);
    feedContract(ctx);
    gpuUsageContract(ctx);
    reportContract(ctx);
    replicaContract(ctx);
    poolContract(ctx);
    poolTaskContract(ctx);
    pipelineContract(ctx);
    triggerContract(ctx);
    scheduleContract(ctx);
    intakeContract(ctx);
  });
}
