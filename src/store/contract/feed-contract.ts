import { describe, expect, it } from 'vitest';
import type { FeedEvent } from '../../core/feed-events.js';
import type { Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { end, FAILED, LEASE_MS, node, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** Everything in the feed after `after`, read in pages of `page`. */
async function readAll(store: Store, after = 0, page = 1000): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  for (let cursor = after; ; ) {
    const r = await store.readFeed(cursor, {}, page);
    out.push(...r.events);
    if (r.events.length < page) return out;
    cursor = r.events[r.events.length - 1]!.id;
  }
}

const jobStates = (events: FeedEvent[], jobId: number) =>
  events.flatMap((e) => (e.type === 'job.state' && e.jobId === jobId ? [`${e.from ?? '-'}→${e.to}`] : []));

/** The event feed (feed-store.ts): every change an event, written with it, ids in commit order. */
export function feedContract(ctx: ContractContext): void {
  describe('event feed', () => {
    it('records each job transition with its queue, labels, attempt, node, devices and reason', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      const job = await submit(ctx.store, { type: 'exec', command: ['train'], gpus: 2, queue: 'vision', labels: { team: 'a' }, maxAttempts: 2 });
      const a1 = await start(ctx.store, job, 'n1', [0, 1]);
      await end(ctx.store, a1, FAILED, T0 + 1000, 1);
      const a2 = await start(ctx.store, job, 'n1', [1, 0], T0 + 60_000);
      await end(ctx.store, a2, SUCCEEDED, T0 + 61_000, 0);

      const events = await readAll(ctx.store);
      expect(jobStates(events, job)).toEqual(['-→queued', 'queued→assigned', 'assigned→running', 'running→queued', 'queued→assigned', 'assigned→running', 'running→succeeded']);
      const retried = events.find((e) => e.type === 'job.state' && e.to === 'queued' && e.from === 'running');
      expect(retried).toMatchObject({ type: 'job.state', jobId: job, queue: 'vision', labels: { team: 'a' }, attempt: 1, nodeId: 'n1', devices: [0, 1], reason: expect.stringMatching(/^exited 1; retry 2\/2/), inDlq: false, owner: null, at: T0 + 1000 });
      const done = events[events.length - 1];
      expect(done).toMatchObject({ type: 'job.state', attempt: 2, devices: [1, 0], to: 'succeeded', at: T0 + 61_000 });
      const submitted = events.find((e) => e.type === 'job.state' && e.to === 'queued' && e.from === null);
      expect(submitted).toMatchObject({ attempt: null, nodeId: null, devices: [], name: 'train' });
      // Ids grow one by one in the order the changes were made.
      const ids = events.map((e) => e.id);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(ids.length);
    });

    it('marks a job that fails for good as in the DLQ, and records a replay', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const job = await submit(ctx.store, { type: 'exec', command: ['x'], maxAttempts: 1 });
      const a = await start(ctx.store, job, 'n1', []);
      await end(ctx.store, a, FAILED, T0 + 5);
      await ctx.store.replayJobs({ ids: [job] }, T0 + 10);
      const events = (await readAll(ctx.store)).filter((e) => e.type === 'job.state');
      expect(events.slice(-2)).toMatchObject([
        { to: 'failed', inDlq: true, reason: 'exited 1; gave up after 1 attempt(s)' },
        { from: 'failed', to: 'queued', inDlq: false, reason: 'replayed from DLQ' },
      ]);
    });

    it('records node registration, down and up, cordon and uncordon, maintenance and leadership terms', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      await ctx.store.setNodeAdminState('n1', 'cordoned');
      await ctx.store.setNodeAdminState('n1', 'cordoned');
      await ctx.store.setNodeAdminState('n1', 'active');
      expect(await ctx.store.markNodesDown(T0 + 1)).toEqual(['n1']);
      await ctx.store.heartbeatNode('n1', T0 + 2);
      await ctx.store.setMaintenanceMode('drain', T0 + 3);
      await ctx.store.setMaintenanceMode('drain', T0 + 4);
      await ctx.store.setMaintenanceMode('normal', T0 + 5);
      const claim = await ctx.store.claimLeadership('server-a', 'http://a:7420', T0, 6000, false);
      expect(claim.term).toBe(1);
      await ctx.store.claimLeadership('server-a', 'http://a:7420', T0 + 1000, 6000, false);
      const body = (await readAll(ctx.store)).map(({ id: _id, at: _at, ...rest }) => rest);
      expect(body).toEqual([
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'up' },
        { type: 'node.admin', nodeId: 'n1', adminState: 'cordoned' },
        { type: 'node.admin', nodeId: 'n1', adminState: 'active' },
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'down' },
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'up' },
        { type: 'maintenance', mode: 'drain' },
        { type: 'maintenance', mode: 'normal' },
        { type: 'leader', holder: 'server-a', term: 1, url: 'http://a:7420' },
      ]);
    });

    it('records a device whose registered health changes, either way, and an agent restart as a registration', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      const restarted = node('n1', 2, { incarnation: 'inc-2' });
      restarted.devices[1] = { ...restarted.devices[1]!, healthy: false };
      await ctx.store.upsertNode(restarted);
      await ctx.store.upsertNode(restarted);
      await ctx.store.upsertNode(node('n1', 2, { incarnation: 'inc-3' }));
      const body = (await readAll(ctx.store)).map(({ id: _id, at: _at, ...rest }) => rest);
      expect(body).toEqual([
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'up' },
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'up' },
        { type: 'device.health', nodeId: 'n1', index: 1, uuid: 'GPU-1', healthy: false },
        { type: 'node.state', nodeId: 'n1', hostname: 'n1.local', state: 'up' },
        { type: 'device.health', nodeId: 'n1', index: 1, uuid: 'GPU-1', healthy: true },
      ]);
    });

    it('filters by type, job and queue, reads the newest page without a cursor, and says where the head is', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store, { queue: 'qa' });
      const b = await submit(ctx.store, { queue: 'qb' });
      await ctx.store.cancelJobs({ ids: [a, b] }, 'stop', T0 + 1);
      const all = await readAll(ctx.store);
      const head = all[all.length - 1]!.id;

      const jobOnly = await ctx.store.readFeed(0, { jobId: b }, 100);
      expect(jobStates(jobOnly.events, b)).toEqual(['-→queued', 'queued→cancelled']);
      expect(jobOnly.events.every((e) => 'jobId' in e && e.jobId === b)).toBe(true);
      expect(jobOnly.headId).toBe(head);
      const queueOnly = await ctx.store.readFeed(0, { queue: 'qa' }, 100);
      expect(queueOnly.events.map((e) => 'jobId' in e && e.jobId)).toEqual([a, a]);
      const nodesOnly = await ctx.store.readFeed(0, { types: ['node.state'] }, 100);
      expect(nodesOnly.events.map((e) => e.type)).toEqual(['node.state']);
      const both = await ctx.store.readFeed(0, { types: ['job.state'], queue: 'qb' }, 100);
      expect(both.events).toHaveLength(2);

      const newest = await ctx.store.readFeed(null, {}, 2);
      expect(newest.events.map((e) => e.id)).toEqual(all.slice(-2).map((e) => e.id));
      const afterHead = await ctx.store.readFeed(head, {}, 100);
      expect(afterHead).toEqual({ events: [], headId: head, purgedThrough: 0 });
    });

    it('retention removes a prefix of the feed and raises the mark to the last id removed', async () => {
      await submit(ctx.store, {}, T0);
      await submit(ctx.store, {}, T0 + 10);
      const late = await submit(ctx.store, {}, T0 + 20_000);
      const before = await readAll(ctx.store);
      const lastOld = before.filter((e) => e.type === 'job.state' && e.at < T0 + 10_000).at(-1)!;
      const removed = await ctx.store.purgeFeed(T0 + 10_000);
      expect(removed).toBe(before.filter((e) => e.id <= lastOld.id).length);
      const after = await ctx.store.readFeed(0, {}, 100);
      expect(after.purgedThrough).toBe(lastOld.id);
      expect(after.events.map((e) => e.id)).toEqual(before.filter((e) => e.id > lastOld.id).map((e) => e.id));
      expect(jobStates(after.events, late)).toEqual(['-→queued']);
      expect(await ctx.store.purgeFeed(T0)).toBe(0);
    });

    it('keeps ids in commit order under concurrent writes, with nothing lost', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const jobs = await Promise.all(Array.from({ length: 40 }, (_, i) => submit(ctx.store, { queue: `q${i % 4}` }, T0 + i)));
      await Promise.all(jobs.map((id, i) => ctx.store.cancelJobs({ ids: [id] }, 'stop', T0 + 100 + i)));
      const events = await readAll(ctx.store, 0, 7);
      for (const id of jobs) expect(jobStates(events, id)).toEqual(['-→queued', 'queued→cancelled']);
      const ids = events.map((e) => e.id);
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0]! + i));
    });

    it.runIf(ctx.capabilities.replicas)('a reader following while two replicas write sees every event once, in id order', async () => {
      const other = await ctx.opened.reopen();
      const seen: FeedEvent[] = [];
      let cursor = 0;
      const follow = async () => {
        const r = await ctx.store.readFeed(cursor, { types: ['job.state'] }, 5);
        seen.push(...r.events);
        cursor = r.events.length === 5 ? r.events[4]!.id : r.headId;
      };
      let writing = true;
      const reader = (async () => {
        while (writing) await follow();
      })();
      const write = async (store: Store, queue: string) => {
        const ids: number[] = [];
        for (let i = 0; i < 25; i++) ids.push(await submit(store, { queue }, T0 + i));
        return ids;
      };
      const [a, b] = await Promise.all([write(ctx.store, 'a'), write(other, 'b')]);
      writing = false;
      await reader;
      await follow();
      for (const id of [...a!, ...b!]) expect(jobStates(seen, id)).toEqual(['-→queued']);
      expect(seen.map((e) => e.id)).toEqual([...seen.map((e) => e.id)].sort((x, y) => x - y));
      expect(seen).toHaveLength(50);
    });

    it('a reader that resumes after the head it read misses nothing written meanwhile', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const first = await ctx.store.readFeed(0, { types: ['job.state'] }, 100);
      expect(first.events).toEqual([]);
      const job = await submit(ctx.store, { gpus: 1, type: 'exec', command: ['x'] });
      await ctx.store.applyPlan([{ jobId: job, nodeId: 'n1', devices: [0] }], T0, LEASE_MS);
      const next = await ctx.store.readFeed(first.headId, { types: ['job.state'] }, 100);
      expect(jobStates(next.events, job)).toEqual(['-→queued', 'queued→assigned']);
    });
  });
}
