import { describe, expect, it } from 'vitest';
import type { ContractContext } from './contract-context.js';
import { end, LEASE_MS, node, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** The operator's admin state of a node (cordon, drain, uncordon) and what it does to placement. */
export function nodeAdminContract(ctx: ContractContext): void {
  describe('node admin state', () => {
    const schedulable = async () =>
      Object.fromEntries((await ctx.store.schedulingSnapshot(T0, 10)).nodes.map((n) => [n.id, [n.schedulable, n.unschedulableBecause ?? null]]));

    it('is active for a new node and set by the operator; unknown nodes give null', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      expect((await ctx.store.listNodes())[0]?.adminState).toBe('active');
      const cordoned = await ctx.store.setNodeAdminState('n1', 'cordoned');
      expect(cordoned).toEqual(node('n1', 2, { adminState: 'cordoned' }));
      expect(await ctx.store.getNode('n1')).toEqual(cordoned);
      expect(await ctx.store.setNodeAdminState('nope', 'cordoned')).toBeNull();
      expect(await ctx.store.getNode('nope')).toBeNull();
      expect((await ctx.store.listNodes()).map((n) => n.id)).toEqual(['n1']);
    });

    it('a cordoned or draining node is not schedulable; uncordon restores it; down says down', async () => {
      await ctx.store.upsertNode(node('a', 1));
      await ctx.store.upsertNode(node('b', 1));
      await ctx.store.upsertNode(node('c', 1));
      await ctx.store.upsertNode(node('d', 1, { state: 'down' }));
      await ctx.store.setNodeAdminState('a', 'cordoned');
      await ctx.store.setNodeAdminState('b', 'draining');
      await ctx.store.setNodeAdminState('d', 'cordoned');
      expect(await schedulable()).toEqual({ a: [false, 'cordoned'], b: [false, 'draining'], c: [true, null], d: [false, 'down'] });
      await ctx.store.setNodeAdminState('a', 'active');
      await ctx.store.setNodeAdminState('b', 'active');
      expect(await schedulable()).toEqual({ a: [true, null], b: [true, null], c: [true, null], d: [false, 'down'] });
    });

    it('applyPlan refuses placements onto a cordoned or draining node as stale, and takes them after uncordon', async () => {
      await ctx.store.upsertNode(node('a', 2));
      await ctx.store.upsertNode(node('b', 2));
      const [j1, j2, j3] = [await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 }), await submit(ctx.store)];
      await ctx.store.setNodeAdminState('a', 'cordoned');
      await ctx.store.setNodeAdminState('b', 'draining');
      const stale = await ctx.store.applyPlan(
        [
          { jobId: j1, nodeId: 'a', devices: [0] },
          { jobId: j2, nodeId: 'b', devices: [0] },
          { jobId: j3, nodeId: 'a', devices: [] },
        ],
        T0,
        LEASE_MS,
      );
      expect(stale).toEqual([]);
      expect((await ctx.store.getJob(j1))?.state).toBe('queued');
      expect(await ctx.store.listLiveAttempts()).toEqual([]);

      await ctx.store.setNodeAdminState('a', 'active');
      const placed = await ctx.store.applyPlan(
        [
          { jobId: j1, nodeId: 'a', devices: [0] },
          { jobId: j2, nodeId: 'b', devices: [0] },
        ],
        T0 + 1,
        LEASE_MS,
      );
      expect(placed.map((p) => [p.jobId, p.nodeId])).toEqual([[j1, 'a']]);
    });

    it('survives a re-registration of the node (an agent restart)', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      await ctx.store.setNodeAdminState('n1', 'draining');
      await ctx.store.upsertNode(node('n1', 4, { incarnation: 'inc-2', lastHeartbeatAt: T0 + 5 }));
      await ctx.store.heartbeatNode('n1', T0 + 6);
      expect(await ctx.store.getNode('n1')).toMatchObject({ adminState: 'draining', incarnation: 'inc-2', state: 'up' });
      expect(await schedulable()).toEqual({ n1: [false, 'draining'] });
      await ctx.store.setNodeAdminState('n1', 'active');
      await ctx.store.upsertNode(node('n1', 4, { incarnation: 'inc-3' }));
      expect((await ctx.store.getNode('n1'))?.adminState).toBe('active');
    });

    it('leaves running attempts alone: they end as usual on a draining node', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const job = await submit(ctx.store, { gpus: 1 });
      const attemptId = await start(ctx.store, job, 'n1', [0]);
      await ctx.store.setNodeAdminState('n1', 'draining');
      expect((await ctx.store.listLiveAttempts('n1')).map((a) => a.id)).toEqual([attemptId]);
      expect(await ctx.store.renewLeases('n1', [attemptId], T0 + LEASE_MS * 2)).toEqual([attemptId]);
      expect((await end(ctx.store, attemptId, SUCCEEDED, T0 + 1)).jobState).toBe('succeeded');
      expect(await ctx.store.listLiveAttempts('n1')).toEqual([]);
    });
  });
}
