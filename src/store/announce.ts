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
    ...announcingPools(store, publish),
    ...announcingPipelines(store, publish),
  };
}

/** Pipeline runs (pipeline-store.ts): their jobs are `work`, their tasks `pool-tasks` of their pools. */
function announcingPipelines(store: StoreMethods, publish: (event: StoreEvent) => void): Partial<StoreMethods> {
  const created = (units: readonly { kind: 'job' | 'task'; pool?: string }[]) => {
    if (units.some((u) => u.kind === 'job')) publish({ type: 'work' });
    const pools = [...new Set(units.flatMap((u) => (u.kind === 'task' && u.pool !== undefined ? [u.pool] : [])))].sort();
    if (pools.length > 0) publish({ type: 'pool-tasks', pools });
  };
  return {
    createPipelineRun: async (...args) => {
      const run = await store.createPipelineRun(...args);
      if (run) created([...run.jobs.map(() => ({ kind: 'job' as const })), ...run.tasks.map((t) => ({ kind: 'task' as const, pool: t.pool }))]);
      return run;
    },
    advancePipelineRun: async (...args) => {
      const run = await store.advancePipelineRun(...args);
      if (run) created(args[1]);
      return run;
    },
  };
}

/**
 * Pools (pool-store.ts): `pool-tasks` when tasks may have become claimable (waiting replica hosts claim again),
 * `pool-results` when tasks ended (callers waiting for results read them), `pools` when what the pool controller
 * watches changed. Claims announce nothing: they only take work.
 */
function announcingPools(store: StoreMethods, publish: (event: StoreEvent) => void): Partial<StoreMethods> {
  const poolsOf = (names: Iterable<string>) => [...new Set(names)].sort();
  const changed = () => publish({ type: 'pools' });
  return {
    createPool: async (...args) => {
      const pool = await store.createPool(...args);
      changed();
      return pool;
    },
    updatePool: async (...args) => {
      const pool = await store.updatePool(...args);
      if (pool) changed();
      return pool;
    },
    setPoolState: async (...args) => {
      const pools = await store.setPoolState(...args);
      if (pools.length > 0) changed();
      // A started pool's queued tasks are claimable again.
      const started = pools.filter((p) => p.state === 'active').map((p) => p.name);
      if (started.length > 0) publish({ type: 'pool-tasks', pools: poolsOf(started) });
      return pools;
    },
    deletePool: async (...args) => {
      const live = await store.deletePool(...args);
      if (live !== null) {
        changed();
        // Its tasks are gone: whoever waits for one of their results reads again (and finds none).
        publish({ type: 'pool-results', pools: [args[0]] });
      }
      return live;
    },
    // New replica jobs are queued: the scheduler places them.
    startReplicas: async (...args) => {
      const replicas = await store.startReplicas(...args);
      if (replicas.length > 0) {
        changed();
        publish({ type: 'work' });
      }
      return replicas;
    },
    markReplicaReady: async (...args) => {
      const ready = await store.markReplicaReady(...args);
      if (ready) changed();
      return ready;
    },
    requestReplicaStop: async (...args) => {
      await store.requestReplicaStop(...args);
      if (args[0].length > 0) changed();
    },
    submitTasks: async (...args) => {
      const out = await store.submitTasks(...args);
      if (out.some((o) => o.created)) publish({ type: 'pool-tasks', pools: [args[0]] });
      return out;
    },
    replayTasks: async (...args) => {
      const tasks = await store.replayTasks(...args);
      if (tasks.length > 0) publish({ type: 'pool-tasks', pools: [args[0]] });
      return tasks;
    },
    completeTasks: async (...args) => {
      const out = await store.completeTasks(...args);
      const accepted = out.filter((c) => c.accepted && c.pool !== undefined);
      const ended = accepted.filter((c) => c.state !== 'queued');
      if (ended.length > 0) publish({ type: 'pool-results', pools: poolsOf(ended.map((c) => c.pool!)), tasks: ended.map((c) => c.taskId) });
      // A retryable error put the task back in the queue (after its backoff).
      const requeued = accepted.filter((c) => c.state === 'queued');
      if (requeued.length > 0) publish({ type: 'pool-tasks', pools: poolsOf(requeued.map((c) => c.pool!)) });
      return out;
    },
    redeliverTasks: async (...args) => {
      const out = await store.redeliverTasks(...args);
      const requeued = out.filter((r) => r.state === 'queued');
      if (requeued.length > 0) publish({ type: 'pool-tasks', pools: poolsOf(requeued.map((r) => r.pool)) });
      const failed = out.filter((r) => r.state === 'failed');
      if (failed.length > 0) publish({ type: 'pool-results', pools: poolsOf(failed.map((r) => r.pool)), tasks: failed.map((r) => r.taskId) });
      return out;
    },
  };
}
