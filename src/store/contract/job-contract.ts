import { describe, expect, it } from 'vitest';
import type { ContractContext } from './contract-context.js';
import { CANCELLED, end, failToDlq, freeDevices, node, queuedIds, spec, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** Jobs as users see them: submit, read, list, cancel, the DLQ, retention and stats. */
export function jobContract(ctx: ContractContext): void {
  describe('migrate and ping', () => {
    it('migrates again without harm and keeps the data', async () => {
      const id = await submit(ctx.store, { name: 'kept' });
      await ctx.store.migrate();
      await ctx.store.migrate();
      await expect(ctx.store.ping()).resolves.toBeUndefined();
      expect((await ctx.store.getJob(id))?.name).toBe('kept');
    });
  });

  describe('submitJobs', () => {
    it('stores each spec with its defaults and records a queued event', async () => {
      const specs = [spec({ name: 'a', labels: { team: 'x' } }), spec({ name: 'b', priority: 3, maxAttempts: 2 }), spec({ name: 'c', queue: 'q2', gpus: 2 })];
      const out = await ctx.store.submitJobs(specs, T0);
      expect(out.map((o) => o.created)).toEqual([true, true, true]);
      const ids = out.map((o) => o.job.id);
      expect(ids[1]! > ids[0]! && ids[2]! > ids[1]!).toBe(true);
      out.forEach(({ job }, i) => {
        expect(job).toMatchObject({ state: 'queued', attempts: 0, attemptLimit: specs[i]!.maxAttempts, notBefore: T0, inDlq: false, nodeId: null, devices: [], createdAt: T0, startedAt: null, finishedAt: null, reason: null });
        expect(job.spec).toEqual(specs[i]);
      });
      expect(out[2]!.job).toMatchObject({ name: 'c', queue: 'q2', gpus: 2 });
      for (const { job } of out) {
        expect(await ctx.store.getJob(job.id)).toEqual(job);
        expect(await ctx.store.listEvents(job.id)).toEqual([{ jobId: job.id, attempt: null, from: null, to: 'queued', at: T0, reason: null }]);
      }
      expect(await ctx.store.getJob(ids[2]! + 1000)).toBeNull();
    });

    it('keeps fractional milliseconds', async () => {
      const id = await submit(ctx.store, {}, T0 + 0.25);
      expect((await ctx.store.getJob(id))?.createdAt).toBe(T0 + 0.25);
    });

    it('returns the existing job for a known idempotency key, across calls and within one batch', async () => {
      const [first] = await ctx.store.submitJobs([spec({ name: 'first', idempotencyKey: 'k1' })], T0);
      const out = await ctx.store.submitJobs(
        [spec({ name: 'again', idempotencyKey: 'k1' }), spec({ name: 'new', idempotencyKey: 'k2' }), spec({ name: 'dup', idempotencyKey: 'k2' })],
        T0 + 1,
      );
      expect(out.map((o) => [o.job.id, o.job.name, o.created])).toEqual([
        [first!.job.id, 'first', false],
        [out[1]!.job.id, 'new', true],
        [out[1]!.job.id, 'new', false],
      ]);
      const all = await ctx.store.listJobs({}, { limit: 10 });
      expect(all.items.map((j) => j.id).sort((a, b) => a - b)).toEqual([first!.job.id, out[1]!.job.id]);
    });
  });

  describe('listJobs', () => {
    it('filters by state, queue, labels and DLQ membership', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store, { labels: { team: 'vision', tier: 'gold' } });
      const b = await submit(ctx.store, { labels: { team: 'vision', tier: 'silver' }, queue: 'q2' });
      const c = await submit(ctx.store, { labels: { team: 'nlp' }, maxAttempts: 1 });
      await failToDlq(ctx.store, c, 'n1');
      const ids = async (filter: Parameters<typeof ctx.store.listJobs>[0]) => (await ctx.store.listJobs(filter, { limit: 50 })).items.map((j) => j.id);
      expect(await ids({})).toEqual([c, b, a]);
      expect(await ids({ states: ['queued'] })).toEqual([b, a]);
      expect(await ids({ states: ['failed', 'succeeded'] })).toEqual([c]);
      expect(await ids({ states: [] })).toEqual([]);
      const paged: number[] = [];
      for (let cursor: string | null | undefined, n = 0; cursor !== null && n < 10; n++) {
        const page = await ctx.store.listJobs({ states: ['queued', 'failed', 'queued'] }, cursor === undefined ? { limit: 1 } : { limit: 1, cursor });
        paged.push(...page.items.map((j) => j.id));
        cursor = page.nextCursor;
      }
      expect(paged).toEqual([c, b, a]);
      expect(await ids({ queue: 'q2' })).toEqual([b]);
      expect(await ids({ labels: { team: 'vision' } })).toEqual([b, a]);
      expect(await ids({ labels: { team: 'vision', tier: 'gold' } })).toEqual([a]);
      expect(await ids({ labels: { team: 'vision', tier: 'bronze' } })).toEqual([]);
      expect(await ids({ inDlq: true })).toEqual([c]);
      expect(await ids({ inDlq: false, queue: 'default' })).toEqual([a]);
    });

    it('pages newest first without duplicates or gaps, even while jobs are added', async () => {
      const ids: number[] = [];
      for (let i = 0; i < 23; i++) ids.push(await submit(ctx.store, { name: `j${i}` }));
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await ctx.store.listJobs({}, cursor === undefined ? { limit: 5 } : { limit: 5, cursor });
        expect(page.items.length).toBeLessThanOrEqual(5);
        seen.push(...page.items.map((j) => j.id));
        cursor = page.nextCursor ?? undefined;
        if (pages === 0) await submit(ctx.store, { name: 'late' }); // newer than the first page: must not appear later
        pages++;
      } while (cursor !== undefined && pages < 20);
      expect(pages).toBe(5);
      expect(seen).toEqual([...ids].reverse());
    });

    it('pages a filtered listing and ends with a null cursor', async () => {
      for (let i = 0; i < 6; i++) await submit(ctx.store, { queue: i % 2 === 0 ? 'even' : 'odd' });
      const p1 = await ctx.store.listJobs({ queue: 'even' }, { limit: 2 });
      expect(p1.items).toHaveLength(2);
      expect(p1.nextCursor).not.toBeNull();
      const p2 = await ctx.store.listJobs({ queue: 'even' }, { limit: 2, cursor: p1.nextCursor! });
      expect(p2.items).toHaveLength(1);
      expect(p2.nextCursor).toBeNull();
      expect([...p1.items, ...p2.items].every((j) => j.queue === 'even')).toBe(true);
    });

    it('rejects a cursor it did not make', async () => {
      await expect(ctx.store.listJobs({}, { limit: 5, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });

  describe('cancelJobs', () => {
    it('cancels a queued job at once', async () => {
      const id = await submit(ctx.store);
      const out = await ctx.store.cancelJobs({ ids: [id] }, 'user asked', T0 + 5);
      expect(out.attemptsToKill).toEqual([]);
      expect(out.cancelled).toHaveLength(1);
      expect(out.cancelled[0]).toMatchObject({ id, state: 'cancelled', finishedAt: T0 + 5, reason: 'user asked' });
      expect(await ctx.store.getJob(id)).toEqual(out.cancelled[0]);
      expect(await queuedIds(ctx.store, T0 + 10)).toEqual([]);
      expect((await ctx.store.listEvents(id)).at(-1)).toMatchObject({ from: 'queued', to: 'cancelled', at: T0 + 5, reason: 'user asked' });
    });

    it('flags a live job’s attempt for killing and keeps its devices held until the attempt ends', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const a = await submit(ctx.store, { gpus: 1 });
      const b = await submit(ctx.store, { gpus: 1 });
      const attemptId = await start(ctx.store, a, 'n1', [0]);
      const out = await ctx.store.cancelJobs({ ids: [a] }, 'stop', T0 + 1);
      expect(out.cancelled.map((j) => [j.id, j.state, j.finishedAt])).toEqual([[a, 'cancelled', T0 + 1]]);
      expect(out.attemptsToKill).toEqual([{ attemptId, jobId: a, nodeId: 'n1' }]);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'running', cancelRequested: true });
      expect(await freeDevices(ctx.store, 'n1')).toEqual([]);
      expect(await ctx.store.applyPlan([{ jobId: b, nodeId: 'n1', devices: [0] }], T0 + 2, 1000)).toEqual([]);

      const r = await end(ctx.store, attemptId, CANCELLED, T0 + 3);
      expect(r).toEqual({ attemptId, accepted: true, jobState: 'cancelled' });
      expect(await ctx.store.getJob(a)).toMatchObject({ state: 'cancelled', finishedAt: T0 + 1, reason: 'stop' });
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'cancelled', endedAt: T0 + 3 });
      expect(await freeDevices(ctx.store, 'n1')).toEqual([0]);
      expect(await ctx.store.applyPlan([{ jobId: b, nodeId: 'n1', devices: [0] }], T0 + 4, 1000)).toHaveLength(1);
    });

    it('skips terminal and unknown jobs, and cancels a whole queue', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const done = await submit(ctx.store);
      await end(ctx.store, await start(ctx.store, done, 'n1', []), SUCCEEDED, T0);
      const other = await submit(ctx.store, { queue: 'other' });
      const q1 = await submit(ctx.store, { queue: 'batch' });
      const q2 = await submit(ctx.store, { queue: 'batch' });
      const live = await submit(ctx.store, { queue: 'batch' });
      const liveAttempt = await start(ctx.store, live, 'n1', []);

      const byIds = await ctx.store.cancelJobs({ ids: [done, 987_654, q1, q1] }, 'by id', T0 + 1);
      expect(byIds.cancelled.map((j) => j.id)).toEqual([q1]);
      expect((await ctx.store.getJob(done))?.state).toBe('succeeded');
      expect((await ctx.store.listEvents(q1)).filter((e) => e.to === 'cancelled')).toHaveLength(1);

      const byQueue = await ctx.store.cancelJobs({ queue: 'batch' }, 'by queue', T0 + 2);
      expect(byQueue.cancelled.map((j) => j.id).sort((x, y) => x - y)).toEqual([q2, live]);
      expect(byQueue.attemptsToKill).toEqual([{ attemptId: liveAttempt, jobId: live, nodeId: 'n1' }]);
      expect((await ctx.store.getJob(other))?.state).toBe('queued');
    });
  });

  describe('DLQ', () => {
    it('replays a failed job with a fresh attempt budget', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store, { maxAttempts: 2 });
      await failToDlq(ctx.store, id, 'n1');
      expect(await ctx.store.getJob(id)).toMatchObject({ state: 'failed', inDlq: true, attempts: 1, attemptLimit: 2 });

      const replayed = await ctx.store.replayJobs({ ids: [id] }, T0 + 50);
      expect(replayed).toHaveLength(1);
      expect(replayed[0]).toMatchObject({ id, state: 'queued', inDlq: false, attempts: 1, attemptLimit: 3, notBefore: T0 + 50, finishedAt: null });
      expect(await ctx.store.getJob(id)).toEqual(replayed[0]);
      expect((await ctx.store.listEvents(id)).at(-1)).toMatchObject({ from: 'failed', to: 'queued', at: T0 + 50, reason: 'replayed from DLQ' });
      expect(await queuedIds(ctx.store, T0 + 50)).toEqual([id]);
      const [again] = await ctx.store.applyPlan([{ jobId: id, nodeId: 'n1', devices: [] }], T0 + 60, 1000);
      expect(again?.number).toBe(2);
      expect(await ctx.store.replayJobs({ ids: [id] }, T0 + 70)).toEqual([]);
    });

    it('replays and purges by ids, by queue, or all', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a1 = await submit(ctx.store, { queue: 'a', maxAttempts: 1 });
      const a2 = await submit(ctx.store, { queue: 'a', maxAttempts: 1 });
      const b1 = await submit(ctx.store, { queue: 'b', maxAttempts: 1 });
      const queued = await submit(ctx.store, { queue: 'b' });
      for (const id of [a1, a2, b1]) await failToDlq(ctx.store, id, 'n1');

      expect((await ctx.store.replayJobs({ all: true, queue: 'a' }, T0 + 1)).map((j) => j.id)).toEqual([a1, a2]);
      expect((await ctx.store.getJob(b1))?.inDlq).toBe(true);

      expect(await ctx.store.purgeDlq({ ids: [b1, queued, b1] }, T0 + 2)).toBe(1);
      expect(await ctx.store.getJob(b1)).toMatchObject({ state: 'failed', inDlq: false });
      expect(await ctx.store.purgeDlq({ all: true }, T0 + 3)).toBe(0);
      expect(await ctx.store.replayJobs({ all: true }, T0 + 3)).toEqual([]);
    });
  });

  describe('retention and stats', () => {
    it('purges finished jobs with their attempts and events, sparing the DLQ, live attempts and newer jobs', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const old1 = await submit(ctx.store);
      const old2 = await submit(ctx.store);
      await end(ctx.store, await start(ctx.store, old1, 'n1', []), SUCCEEDED, T0 + 10);
      await ctx.store.cancelJobs({ ids: [old2] }, 'gone', T0 + 11);
      const dlq = await submit(ctx.store, { maxAttempts: 1 });
      await failToDlq(ctx.store, dlq, 'n1', T0 + 12);
      const cancelledLive = await submit(ctx.store);
      await start(ctx.store, cancelledLive, 'n1', []);
      await ctx.store.cancelJobs({ ids: [cancelledLive] }, 'stop', T0 + 13);
      const recent = await submit(ctx.store);
      await end(ctx.store, await start(ctx.store, recent, 'n1', []), SUCCEEDED, T0 + 100);
      const queued = await submit(ctx.store);

      expect(await ctx.store.purgeFinishedJobs(T0 + 50, 1)).toBe(1);
      expect(await ctx.store.purgeFinishedJobs(T0 + 50, 10)).toBe(1);
      expect(await ctx.store.purgeFinishedJobs(T0 + 50, 10)).toBe(0);
      for (const id of [old1, old2]) {
        expect(await ctx.store.getJob(id)).toBeNull();
        expect(await ctx.store.listAttempts(id)).toEqual([]);
        expect(await ctx.store.listEvents(id)).toEqual([]);
      }
      for (const id of [dlq, cancelledLive, recent, queued]) expect(await ctx.store.getJob(id)).not.toBeNull();
      expect(await ctx.store.listAttempts(cancelledLive)).toHaveLength(1);
    });

    it('counts jobs by queue and state, and the DLQ by queue', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      await submit(ctx.store, { queue: 'a' });
      await submit(ctx.store, { queue: 'a' });
      const running = await submit(ctx.store, { queue: 'b' });
      await start(ctx.store, running, 'n1', []);
      const failed = await submit(ctx.store, { queue: 'b', maxAttempts: 1 });
      await failToDlq(ctx.store, failed, 'n1');
      const stats = await ctx.store.jobStats();
      const sorted = [...stats.byQueueState].sort((x, y) => `${x.queue}/${x.state}`.localeCompare(`${y.queue}/${y.state}`));
      expect(sorted).toEqual([
        { queue: 'a', state: 'queued', count: 2 },
        { queue: 'b', state: 'failed', count: 1 },
        { queue: 'b', state: 'running', count: 1 },
      ]);
      expect(stats.dlqByQueue).toEqual([{ queue: 'b', count: 1 }]);
    });
  });
}
