import { describe, expect, it } from 'vitest';
import { NotLeaderError } from '../../core/errors.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, LEASE_MS, node, spec, start, submit, T0 } from './fixtures.js';

const LEADER_LEASE_MS = 5000;

/** The leader lease and fencing (store/leadership.ts). */
export function leadershipContract(ctx: ContractContext): void {
  describe('leadership', () => {
    it('lists the replicas seen since a time, with their start and last sighting, and forgets those unseen for an hour', async () => {
      expect(await ctx.store.listReplicas(0)).toEqual([]);
      await ctx.store.seeReplica('b', 'http://b:7420', T0);
      await ctx.store.seeReplica('a', null, T0 + 1000);
      await ctx.store.seeReplica('b', 'http://b:7421', T0 + 2000);
      expect(await ctx.store.listReplicas(T0)).toEqual([
        { id: 'b', url: 'http://b:7421', startedAt: T0, lastSeenAt: T0 + 2000 },
        { id: 'a', url: null, startedAt: T0 + 1000, lastSeenAt: T0 + 1000 },
      ]);
      expect((await ctx.store.listReplicas(T0 + 1500)).map((r) => r.id)).toEqual(['b']);
      await ctx.store.seeReplica('c', null, T0 + 1000 + 3_600_001);
      expect((await ctx.store.listReplicas(0)).map((r) => r.id)).toEqual(['b', 'c']);
    });

    it('has no leader until one claims; the first claim starts term 1', async () => {
      expect(await ctx.store.getLeadership()).toBeNull();
      const a = await ctx.store.claimLeadership('a', 'http://a:7420', T0, LEADER_LEASE_MS);
      expect(a).toEqual({ holder: 'a', url: 'http://a:7420', term: 1, since: T0, renewedAt: T0, expiresAt: T0 + LEADER_LEASE_MS });
      expect(await ctx.store.getLeadership()).toEqual(a);
    });

    it('renews for its holder in the same term, and refuses others while the lease lasts', async () => {
      await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      const renewed = await ctx.store.claimLeadership('a', null, T0 + 2000, LEADER_LEASE_MS);
      expect(renewed).toMatchObject({ holder: 'a', term: 1, since: T0, renewedAt: T0 + 2000, expiresAt: T0 + 2000 + LEADER_LEASE_MS });
      const b = await ctx.store.claimLeadership('b', null, T0 + 2000 + LEADER_LEASE_MS - 1, LEADER_LEASE_MS);
      expect(b).toMatchObject({ holder: 'a', term: 1 });
    });

    it('passes to another replica once the lease ran out, in a new term; the old holder then sees it lost', async () => {
      await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      const b = await ctx.store.claimLeadership('b', 'http://b', T0 + LEADER_LEASE_MS, LEADER_LEASE_MS);
      expect(b).toEqual({ holder: 'b', url: 'http://b', term: 2, since: T0 + LEADER_LEASE_MS, renewedAt: T0 + LEADER_LEASE_MS, expiresAt: T0 + 2 * LEADER_LEASE_MS });
      expect(await ctx.store.claimLeadership('a', null, T0 + LEADER_LEASE_MS + 1, LEADER_LEASE_MS)).toMatchObject({ holder: 'b', term: 2 });
    });

    it('starts a new term when its own holder comes back after a lapse', async () => {
      await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      expect(await ctx.store.claimLeadership('a', null, T0 + LEADER_LEASE_MS + 10, LEADER_LEASE_MS)).toMatchObject({ holder: 'a', term: 2, since: T0 + LEADER_LEASE_MS + 10 });
    });

    it('hands over at once when the leader resigns; a resign of a term that ended changes nothing', async () => {
      await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      await ctx.store.resignLeadership('a', 1, T0 + 100);
      const b = await ctx.store.claimLeadership('b', null, T0 + 101, LEADER_LEASE_MS);
      expect(b).toMatchObject({ holder: 'b', term: 2 });
      await ctx.store.resignLeadership('a', 1, T0 + 200);
      expect(await ctx.store.getLeadership()).toMatchObject({ holder: 'b', term: 2, expiresAt: T0 + 101 + LEADER_LEASE_MS });
    });

    it('lets a takeover claim a live lease (one-server stores, after a restart)', async () => {
      await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      expect(await ctx.store.claimLeadership('a2', null, T0 + 1, LEADER_LEASE_MS, true)).toMatchObject({ holder: 'a2', term: 2 });
    });
  });

  describe('fencing: leader-only writes with a term that ended change nothing', () => {
    async function twoTerms(): Promise<{ old: { term: number }; current: { term: number } }> {
      const a = await ctx.store.claimLeadership('a', null, T0, LEADER_LEASE_MS);
      const b = await ctx.store.claimLeadership('b', null, T0 + LEADER_LEASE_MS, LEADER_LEASE_MS);
      return { old: { term: a.term }, current: { term: b.term } };
    }

    it('applyPlan', async () => {
      const { old, current } = await twoTerms();
      await ctx.store.upsertNode(node('n1', 2));
      const job = await submit(ctx.store, { gpus: 1 });
      await expect(ctx.store.applyPlan([{ jobId: job, nodeId: 'n1', devices: [0] }], T0, LEASE_MS, old)).rejects.toBeInstanceOf(NotLeaderError);
      expect((await ctx.store.getJob(job))?.state).toBe('queued');
      expect(await ctx.store.listLiveAttempts()).toEqual([]);
      const placed = await ctx.store.applyPlan([{ jobId: job, nodeId: 'n1', devices: [0] }], T0, LEASE_MS, current);
      expect(placed.map((a) => a.jobId)).toEqual([job]);
    });

    it('endAttempts (the reclaimer), markNodesDown and the purges', async () => {
      const { old, current } = await twoTerms();
      await ctx.store.upsertNode(node('n1', 0, { lastHeartbeatAt: T0 }));
      const job = await submit(ctx.store);
      const attemptId = await start(ctx.store, job, 'n1', []);
      const lost = [{ attemptId, end: { state: 'lost' as const, retryable: true, reason: 'lease expired' }, exitCode: null, signal: null, endedAt: T0 + 1 }];
      await expect(ctx.store.endAttempts(lost, decideAt(T0 + 1), T0 + 1, old)).rejects.toMatchObject({ code: 'NOT_LEADER', term: old.term, currentTerm: current.term });
      expect((await ctx.store.getAttempt(attemptId))?.state).toBe('running');
      await expect(ctx.store.markNodesDown(T0 + 1, old)).rejects.toBeInstanceOf(NotLeaderError);
      expect((await ctx.store.listNodes())[0]?.state).toBe('up');

      const [r] = await ctx.store.endAttempts(lost, decideAt(T0 + 1), T0 + 1, current);
      expect(r?.accepted).toBe(true);
      expect(await ctx.store.markNodesDown(T0 + 1, current)).toEqual(['n1']);
      const [done] = await ctx.store.submitJobs([spec()], T0);
      await ctx.store.cancelJobs({ ids: [done!.job.id] }, 'x', T0);
      await ctx.store.recordTelemetry([{ nodeId: 'n1', index: 0, at: T0, utilizationPct: 1, memoryUsedMb: 1, temperatureC: 1, powerW: 1, eccCorrected: 0, eccUncorrected: 0 }]);
      await expect(ctx.store.purgeFinishedJobs(T0 + 10, 100, old)).rejects.toBeInstanceOf(NotLeaderError);
      await expect(ctx.store.purgeTelemetry(T0 + 10, old)).rejects.toBeInstanceOf(NotLeaderError);
      await ctx.store.appendAudit({ at: T0, actor: 'local', actorTokenId: null, role: null, action: 'control.maintenance', target: 'drain', outcome: 'ok', detail: null });
      await expect(ctx.store.purgeAudit(T0 + 10, old)).rejects.toBeInstanceOf(NotLeaderError);
      expect((await ctx.store.listAudit({}, { limit: 10 })).items).toHaveLength(1);
      expect(await ctx.store.getJob(done!.job.id)).not.toBeNull();
      expect(await ctx.store.purgeFinishedJobs(T0 + 10, 100, current)).toBe(1);
      expect(await ctx.store.purgeTelemetry(T0 + 10, current)).toBe(1);
      expect(await ctx.store.purgeAudit(T0 + 10, current)).toBe(1);
    });
  });
}
