import type { StoreEvent } from './store-events.js';
import type { Store } from './store.js';

/** A Store before events are added: what each database implements. */
export type StoreMethods = Omit<Store, 'subscribe'>;

/**
 * Which committed writes announce which event (store-events.ts), the same on
 * every database: the store's methods wrapped so that, once a write has
 * resolved (committed), `publish` is told what changed. Writes that changed
 * nothing announce nothing.
 */
export function announcing(store: StoreMethods, announce: (event: StoreEvent) => void): StoreMethods {
  // The write has committed: a failing listener must not make it look failed.
  const publish = (event: StoreEvent): void => {
    try {
      announce(event);
    } catch {
      // Listeners handle their own errors; an event is a hint, and `resync` exists for lost ones.
    }
  };
  const nodesOf = (ids: Iterable<string>) => [...new Set(ids)].sort();
  return {
    ...store,
    submitJobs: async (...args) => {
      const out = await store.submitJobs(...args);
      if (out.some((o) => o.created)) publish({ type: 'work' });
      return out;
    },
    replayJobs: async (...args) => {
      const jobs = await store.replayJobs(...args);
      if (jobs.length > 0) publish({ type: 'work' });
      return jobs;
    },
    // An end may also make jobs runnable whose last dependency just succeeded (core/dependencies.ts): the same `work`.
    // Jobs failed with a failed or cancelled dependency were queued and are now final: nothing is runnable or to kill.
    endAttempts: async (...args) => {
      const results = await store.endAttempts(...args);
      if (results.some((r) => r.accepted)) publish({ type: 'work' });
      return results;
    },
    upsertNode: async (...args) => {
      await store.upsertNode(...args);
      publish({ type: 'work' });
    },
    setNodeAdminState: async (...args) => {
      const node = await store.setNodeAdminState(...args);
      // An uncordoned node has room for work again; a cordon frees nothing.
      if (node?.adminState === 'active') publish({ type: 'work' });
      return node;
    },
    applyPlan: async (...args) => {
      const assigned = await store.applyPlan(...args);
      if (assigned.length > 0) publish({ type: 'assigned', nodeIds: nodesOf(assigned.map((a) => a.nodeId)) });
      return assigned;
    },
    cancelJobs: async (...args) => {
      const outcome = await store.cancelJobs(...args);
      if (outcome.attemptsToKill.length > 0) publish({ type: 'cancel', nodeIds: nodesOf(outcome.attemptsToKill.map((a) => a.nodeId)) });
      return outcome;
    },
    setMaintenanceMode: async (...args) => {
      await store.setMaintenanceMode(...args);
      publish({ type: 'maintenance' });
    },
  };
}
