import { describe, expect, it } from 'vitest';
import type { StoreEvent } from '../store-events.js';
import type { Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { assign, node, start, submit, T0 } from './fixtures.js';

/** Collects a store's events; `next` resolves with the first event (from now on) that matches. */
async function listen(store: Store) {
  const seen: StoreEvent[] = [];
  const waiters: { match: (e: StoreEvent) => boolean; resolve: (e: StoreEvent) => void }[] = [];
  const sub = store.subscribe((e) => {
    seen.push(e);
    for (const w of [...waiters]) if (w.match(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
  });
  await sub.ready;
  return {
    seen,
    next: (match: (e: StoreEvent) => boolean, what: string) =>
      new Promise<StoreEvent>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} event within 5 s; seen: ${JSON.stringify(seen)}`)), 5000);
        waiters.push({ match, resolve: (e) => (clearTimeout(timer), resolve(e)) });
      }),
    close: () => sub.unsubscribe(),
  };
}

/** Store events (store-events.ts): committed writes announce what changed. */
export function eventsContract(ctx: ContractContext): void {
  describe('events', () => {
    it('announces work, assignments by node, cancels by node and maintenance changes', async () => {
      const l = await listen(ctx.store);
      try {
        await ctx.store.upsertNode(node('n1', 1));
        await ctx.store.upsertNode(node('n2', 0));
        const work = l.next((e) => e.type === 'work', 'work');
        const job = await submit(ctx.store, { type: 'exec', command: ['true'], gpus: 1 });
        await work;
        const assigned = l.next((e) => e.type === 'assigned', 'assigned');
        await assign(ctx.store, job, 'n1', [0]);
        expect(await assigned).toEqual({ type: 'assigned', nodeIds: ['n1'] });
        const cancel = l.next((e) => e.type === 'cancel', 'cancel');
        await ctx.store.cancelJobs({ ids: [job] }, 'stop', T0);
        expect(await cancel).toEqual({ type: 'cancel', nodeIds: ['n1'] });
        const maintenance = l.next((e) => e.type === 'maintenance', 'maintenance');
        await ctx.store.setMaintenanceMode('drain', T0);
        await maintenance;
        // An uncordon gives work a place to go again; a cordon frees nothing and announces nothing (next test).
        await ctx.store.setNodeAdminState('n1', 'cordoned');
        const uncordoned = l.next((e) => e.type === 'work', 'work after uncordon');
        await ctx.store.setNodeAdminState('n1', 'active');
        await uncordoned;
      } finally {
        l.close();
      }
    });

    it('announces nothing for writes that changed nothing, and nothing after unsubscribing', async () => {
      const l = await listen(ctx.store);
      const registered = l.next((e) => e.type === 'work', 'work');
      await ctx.store.upsertNode(node('n1', 1));
      await registered;
      l.seen.length = 0;
      await ctx.store.cancelJobs({ ids: [123_456] }, 'x', T0);
      await ctx.store.applyPlan([{ jobId: 123_456, nodeId: 'nope', devices: [] }], T0, 1000);
      await ctx.store.setNodeAdminState('nope', 'active');
      await ctx.store.setNodeAdminState('n1', 'cordoned');
      // A marker after them: events arrive in order, so when it is heard the others would have been.
      const marker = l.next((e) => e.type === 'maintenance', 'maintenance');
      await ctx.store.setMaintenanceMode('normal', T0);
      await marker;
      // `feed` hints say the event feed may have grown (a cordon is an event there); the feed contract covers them.
      const hints = () => l.seen.filter((e) => e.type !== 'feed');
      expect(hints()).toEqual([{ type: 'maintenance' }]);
      l.close();
      await ctx.store.setMaintenanceMode('drain', T0);
      await ctx.store.ping();
      expect(hints()).toEqual([{ type: 'maintenance' }]);
    });

    it.skipIf(!ctx.capabilities.replicas)('reaches every server sharing the database', async () => {
      const other = await ctx.opened.reopen();
      const l = await listen(other);
      try {
        await ctx.store.upsertNode(node('n1', 0));
        const job = await submit(ctx.store, { type: 'exec', command: ['true'] });
        const assigned = l.next((e) => e.type === 'assigned', 'assigned on the other server');
        await start(ctx.store, job, 'n1', []);
        expect(await assigned).toEqual({ type: 'assigned', nodeIds: ['n1'] });
      } finally {
        l.close();
      }
    });
  });
}
