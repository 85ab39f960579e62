import { describe, expect, it } from 'vitest';
import { backoffMs, decideAfterAttempt } from '../../core/retry-policy.js';
import type { DecideFn } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { assign, decideAt, device, end, FAILED, freeDevices, LEASE_MS, node, queuedIds, RANDOM, spec, start, submit, SUCCEEDED, T0 } from './fixtures.js';
import { livePlacementProperty } from './placement-property.js';

/** The scheduling path: snapshot, applyPlan, markRunning, endAttempts, leases. */
export function schedulingContract(ctx: ContractContext): void {
  describe('schedulingSnapshot', () => {
    it('lists runnable jobs by priority, first come first served within a priority, up to the limit', async () => {
      const a = await submit(ctx.store, { priority: 0 });
      const b = await submit(ctx.store, { priority: 5 });
      const c = await submit(ctx.store, { priority: 0 });
      const d = await submit(ctx.store, { priority: 5 });
      const e = await submit(ctx.store, { priority: -1 });
      expect(await queuedIds(ctx.store, T0)).toEqual([b, d, a, c, e]);
      expect(await queuedIds(ctx.store, T0, 3)).toEqual([b, d, a]);
      expect(await queuedIds(ctx.store, T0 - 1)).toEqual([]);
    });

    it('describes each queued job', async () => {
      const id = await submit(ctx.store, { queue: 'train', priority: 7, gpus: 2, cpus: 1.5, memoryMb: 2048, nodeSelector: { zone: 'a' } }, T0 + 0.5);
      const exec = await submit(ctx.store, { type: 'exec', command: ['true'] }, T0 + 0.5);
      const snap = await ctx.store.schedulingSnapshot(T0 + 1, 10);
      expect(snap.queued).toEqual([
        { id, queue: 'train', priority: 7, gpus: 2, cpus: 1.5, memoryMb: 2048, slots: 0, nodeSelector: { zone: 'a' }, createdAt: T0 + 0.5 },
        { id: exec, queue: 'default', priority: 0, gpus: 0, cpus: 0, memoryMb: 0, slots: 1, nodeSelector: {}, createdAt: T0 + 0.5 },
      ]);
    });

    it('reports what is free on each node', async () => {
      await ctx.store.upsertNode(node('n1', 4, { labels: { zone: 'a' }, cpus: 16, memoryMb: 64_000, devices: [device(0), device(1), device(2, false), device(3)] }));
      await ctx.store.upsertNode(node('n2', 2, { state: 'down' }));
      const job = await submit(ctx.store, { gpus: 1, cpus: 4, memoryMb: 1000 });
      const cpuOnly = await submit(ctx.store, { cpus: 2.5, memoryMb: 500 });
      await assign(ctx.store, job, 'n1', [1]);
      await start(ctx.store, cpuOnly, 'n1', []);
      const snap = await ctx.store.schedulingSnapshot(T0, 10);
      const byId = new Map(snap.nodes.map((n) => [n.id, n]));
      expect(byId.get('n1')).toEqual({
        id: 'n1',
        labels: { zone: 'a' },
        schedulable: true,
        unschedulableBecause: null,
        devices: [0, 1, 3],
        freeDevices: [0, 3],
        cpusTotal: 16,
        cpusFree: 9.5,
        memoryTotalMb: 64_000,
        memoryFreeMb: 62_500,
        slotsTotal: 64,
        slotsFree: 64,
      });
      expect(byId.get('n2')).toMatchObject({ schedulable: false, unschedulableBecause: 'down', devices: [0, 1], freeDevices: [0, 1] });
    });

    it('counts the run slots live exec attempts hold on each node; a noop holds none', async () => {
      await ctx.store.upsertNode(node('n1', 2, { maxRunning: 3 }));
      await ctx.store.upsertNode(node('n2', 0, { maxRunning: 1 }));
      const exec = { type: 'exec' as const, command: ['true'] };
      const [a, b, c, d] = [await submit(ctx.store, { ...exec, gpus: 1 }), await submit(ctx.store, exec), await submit(ctx.store), await submit(ctx.store, exec)];
      const gpuAttempt = await start(ctx.store, a!, 'n1', [0]);
      await assign(ctx.store, b!, 'n1', []);
      await start(ctx.store, c!, 'n1', []);
      await start(ctx.store, d!, 'n2', []);
      const slots = async () => (await ctx.store.schedulingSnapshot(T0, 1)).nodes.map((n) => [n.id, n.slotsTotal, n.slotsFree]);
      expect(await slots()).toEqual([
        ['n1', 3, 1],
        ['n2', 1, 0],
      ]);
      await end(ctx.store, gpuAttempt, SUCCEEDED, T0 + 1);
      expect(await slots()).toEqual([
        ['n1', 3, 2],
        ['n2', 1, 0],
      ]);
    });
  });

  describe('attemptOrigins', () => {
    it('gives the queue, job creation time, number and start of the attempts asked for; unknown ids are left out', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store, { queue: 'train' });
      const assigned = await assign(ctx.store, id, 'n1', [], T0 + 5);
      const other = await start(ctx.store, await submit(ctx.store, { queue: 'eval' }, T0 + 1), 'n1', [], T0 + 7);
      const origins = await ctx.store.attemptOrigins([assigned, other, 987_654]);
      expect(origins.sort((x, y) => x.attemptId - y.attemptId)).toEqual([
        { attemptId: assigned, queue: 'train', number: 1, jobCreatedAt: T0, startedAt: null },
        { attemptId: other, queue: 'eval', number: 1, jobCreatedAt: T0 + 1, startedAt: T0 + 7 },
      ]);
      expect(await ctx.store.attemptOrigins([])).toEqual([]);
    });
  });

  describe('applyPlan', () => {
    it('creates an attempt, assigns the job and records the event', async () => {
      await ctx.store.upsertNode(node('n1', 4));
      const id = await submit(ctx.store, { gpus: 2, name: 'train' });
      const out = await ctx.store.applyPlan([{ jobId: id, nodeId: 'n1', devices: [3, 1] }], T0 + 10, LEASE_MS);
      expect(out).toHaveLength(1);
      const a = out[0]!;
      expect(a).toMatchObject({ jobId: id, number: 1, nodeId: 'n1', devices: [3, 1], jobCreatedAt: T0, leaseExpiresAt: T0 + 10 + LEASE_MS });
      expect(a.spec).toEqual((await ctx.store.getJob(id))?.spec);
      expect(await ctx.store.getJob(id)).toMatchObject({ state: 'assigned', attempts: 1, nodeId: 'n1', devices: [3, 1], updatedAt: T0 + 10 });
      const attempt = await ctx.store.getAttempt(a.attemptId);
      expect(attempt).toEqual({
        id: a.attemptId, jobId: id, number: 1, nodeId: 'n1', devices: [3, 1], state: 'assigned', assignedAt: T0 + 10, startedAt: null, endedAt: null,
        exitCode: null, signal: null, reason: null, leaseExpiresAt: T0 + 10 + LEASE_MS, cancelRequested: false, pid: null, logPath: null, idleSince: null,
      });
      expect(await ctx.store.listAttempts(id)).toEqual([attempt]);
      expect((await ctx.store.listEvents(id)).at(-1)).toEqual({ jobId: id, attempt: 1, from: 'queued', to: 'assigned', at: T0 + 10, reason: null });
      expect(await freeDevices(ctx.store, 'n1')).toEqual([0, 2]);
      expect(await queuedIds(ctx.store, T0 + 10)).toEqual([]);
    });

    it('skips placements that went stale and applies the rest', async () => {
      await ctx.store.upsertNode(node('n1', 4, { devices: [device(0), device(1), device(2, false), device(3)] }));
      await ctx.store.upsertNode(node('down', 2, { state: 'down' }));
      const [a, b, c, d, e, f] = [await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 })];
      await ctx.store.cancelJobs({ ids: [f!] }, 'gone', T0);
      const out = await ctx.store.applyPlan(
        [
          { jobId: a!, nodeId: 'n1', devices: [0] },
          { jobId: b!, nodeId: 'n1', devices: [0] }, // device taken by the placement before it
          { jobId: a!, nodeId: 'n1', devices: [1] }, // job no longer queued
          { jobId: c!, nodeId: 'down', devices: [0] }, // node down
          { jobId: c!, nodeId: 'nowhere', devices: [0] }, // unknown node
          { jobId: d!, nodeId: 'n1', devices: [2] }, // unhealthy device
          { jobId: e!, nodeId: 'n1', devices: [1, 3] }, // more devices than the job asked for
          { jobId: e!, nodeId: 'n1', devices: [] }, // fewer
          { jobId: f!, nodeId: 'n1', devices: [1] }, // cancelled
          { jobId: 999_999, nodeId: 'n1', devices: [1] }, // no such job
        ],
        T0 + 1,
        LEASE_MS,
      );
      expect(out.map((x) => [x.jobId, x.devices])).toEqual([[a, [0]]]);
      for (const id of [b!, c!, d!, e!]) expect(await ctx.store.getJob(id)).toMatchObject({ state: 'queued', attempts: 0, nodeId: null });
      expect(await ctx.store.listLiveAttempts()).toHaveLength(1);

      expect(await ctx.store.applyPlan([{ jobId: b!, nodeId: 'n1', devices: [0] }], T0 + 2, LEASE_MS)).toEqual([]);
      expect((await ctx.store.applyPlan([{ jobId: b!, nodeId: 'n1', devices: [1] }], T0 + 2, LEASE_MS)).map((x) => x.jobId)).toEqual([b]);
    });

    it('refuses exec placements past the node\'s maxRunning, counting those applied before in the same call; noops need no slot', async () => {
      await ctx.store.upsertNode(node('n1', 0, { maxRunning: 2 }));
      const exec = { type: 'exec' as const, command: ['true'] };
      const running = await submit(ctx.store, exec);
      await start(ctx.store, running, 'n1', []);
      const [a, b, c] = [await submit(ctx.store, exec), await submit(ctx.store, exec), await submit(ctx.store)];
      const out = await ctx.store.applyPlan(
        [
          { jobId: a!, nodeId: 'n1', devices: [] },
          { jobId: b!, nodeId: 'n1', devices: [] }, // the node's second slot went to a
          { jobId: c!, nodeId: 'n1', devices: [] }, // a noop: no slot needed
        ],
        T0 + 1,
        LEASE_MS,
      );
      expect(out.map((x) => x.jobId)).toEqual([a, c]);
      expect(await ctx.store.getJob(b!)).toMatchObject({ state: 'queued', attempts: 0 });
      await end(ctx.store, out[0]!.attemptId, SUCCEEDED, T0 + 2);
      expect((await ctx.store.applyPlan([{ jobId: b!, nodeId: 'n1', devices: [] }], T0 + 3, LEASE_MS)).map((x) => x.jobId)).toEqual([b]);
    });

    it('never lets two live attempts hold one device, one job have two live attempts, or a node run more exec attempts than its maxRunning', async () => {
      await livePlacementProperty(ctx.open);
    });
  });

  describe('markRunning', () => {
    it('starts an assigned attempt and its job', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const id = await submit(ctx.store, { gpus: 1 });
      const attemptId = await assign(ctx.store, id, 'n1', [0]);
      const r = await ctx.store.markRunning([{ attemptId, pid: 77, logPath: '/l/1.log', startedAt: T0 + 4 }], T0 + 5);
      expect(r).toEqual([{ attemptId, accepted: true, jobState: 'running' }]);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'running', pid: 77, logPath: '/l/1.log', startedAt: T0 + 4 });
      expect(await ctx.store.getJob(id)).toMatchObject({ state: 'running', startedAt: T0 + 4 });
      expect((await ctx.store.listEvents(id)).at(-1)).toEqual({ jobId: id, attempt: 1, from: 'assigned', to: 'running', at: T0 + 5, reason: null });
    });

    it('refuses a report for an attempt that is not assigned, and changes nothing', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store);
      const attemptId = await start(ctx.store, id, 'n1', []);
      const before = { job: await ctx.store.getJob(id), attempt: await ctx.store.getAttempt(attemptId), events: await ctx.store.listEvents(id) };
      const r = await ctx.store.markRunning(
        [
          { attemptId, pid: 1, logPath: null, startedAt: T0 + 9 },
          { attemptId: 123_456, pid: 1, logPath: null, startedAt: T0 + 9 },
        ],
        T0 + 9,
      );
      expect(r).toEqual([
        { attemptId, accepted: false },
        { attemptId: 123_456, accepted: false },
      ]);
      expect({ job: await ctx.store.getJob(id), attempt: await ctx.store.getAttempt(attemptId), events: await ctx.store.listEvents(id) }).toEqual(before);
      await end(ctx.store, attemptId, SUCCEEDED, T0 + 10);
      expect((await ctx.store.markRunning([{ attemptId, pid: 1, logPath: null, startedAt: T0 + 11 }], T0 + 11))[0]?.accepted).toBe(false);
      expect((await ctx.store.getAttempt(attemptId))?.state).toBe('succeeded');
    });

    it('records the start of an attempt whose job was cancelled, and leaves the job cancelled', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store);
      const attemptId = await assign(ctx.store, id, 'n1', []);
      await ctx.store.cancelJobs({ ids: [id] }, 'stop', T0 + 1);
      const r = await ctx.store.markRunning([{ attemptId, pid: 5, logPath: null, startedAt: T0 + 2 }], T0 + 2);
      expect(r).toEqual([{ attemptId, accepted: true, jobState: 'cancelled' }]);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'running', pid: 5, cancelRequested: true });
      expect((await ctx.store.getJob(id))?.state).toBe('cancelled');
    });
  });

  describe('endAttempts', () => {
    it('ends a job that succeeded and frees its devices', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      const id = await submit(ctx.store, { gpus: 2 });
      const attemptId = await start(ctx.store, id, 'n1', [0, 1]);
      expect(await freeDevices(ctx.store, 'n1')).toEqual([]);
      const r = await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 20 }], decideAt(T0 + 21), T0 + 21);
      expect(r).toEqual([{ attemptId, accepted: true, jobState: 'succeeded' }]);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'succeeded', exitCode: 0, signal: null, endedAt: T0 + 20, reason: 'exited 0' });
      expect(await ctx.store.getJob(id)).toMatchObject({ state: 'succeeded', finishedAt: T0 + 21, nodeId: null, devices: [], inDlq: false, reason: 'exited 0' });
      expect((await ctx.store.listEvents(id)).at(-1)).toEqual({ jobId: id, attempt: 1, from: 'running', to: 'succeeded', at: T0 + 21, reason: 'exited 0' });
      expect(await freeDevices(ctx.store, 'n1')).toEqual([0, 1]);
      expect(await ctx.store.listLiveAttempts()).toEqual([]);
    });

    it('records the start with the end when the start was not reported separately', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const id = await submit(ctx.store, { gpus: 1 });
      const attemptId = await assign(ctx.store, id, 'n1', [0]);
      const r = await ctx.store.endAttempts([{ attemptId, startedAt: T0 + 5, pid: 88, logPath: '/l/8.log', end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 6 }], decideAt(T0 + 7), T0 + 7);
      expect(r).toEqual([{ attemptId, accepted: true, jobState: 'succeeded' }]);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ state: 'succeeded', startedAt: T0 + 5, endedAt: T0 + 6, pid: 88, logPath: '/l/8.log' });
      expect(await ctx.store.getJob(id)).toMatchObject({ state: 'succeeded', startedAt: T0 + 5 });
      expect((await ctx.store.listEvents(id)).map((e) => [e.from, e.to, e.at])).toEqual([
        [null, 'queued', T0],
        ['queued', 'assigned', T0],
        ['assigned', 'running', T0 + 5],
        ['running', 'succeeded', T0 + 7],
      ]);
      expect(await freeDevices(ctx.store, 'n1')).toEqual([0]);
    });

    it('keeps the first start when an end repeats it', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store);
      const attemptId = await start(ctx.store, id, 'n1', []);
      const before = (await ctx.store.getAttempt(attemptId))!;
      await ctx.store.endAttempts([{ attemptId, startedAt: T0 + 99, pid: 1, logPath: '/elsewhere.log', end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 100 }], decideAt(T0 + 100), T0 + 100);
      expect(await ctx.store.getAttempt(attemptId)).toMatchObject({ startedAt: before.startedAt, pid: before.pid, logPath: before.logPath });
      expect((await ctx.store.listEvents(id)).filter((e) => e.to === 'running')).toHaveLength(1);
    });

    it('re-queues a job after a retryable failure, not before its backoff', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store, { maxAttempts: 3, backoff: { initialSeconds: 10, maxSeconds: 60, multiplier: 2 } });
      const job = (await ctx.store.getJob(id))!;
      const attemptId = await start(ctx.store, id, 'n1', []);
      const seen: Parameters<DecideFn>[] = [];
      const decide: DecideFn = (j, e) => {
        seen.push([j, e]);
        return decideAfterAttempt(j, e, T0 + 100, RANDOM);
      };
      const r = await ctx.store.endAttempts([{ attemptId, end: FAILED, exitCode: 1, signal: null, endedAt: T0 + 100 }], decide, T0 + 100);
      expect(r).toEqual([{ attemptId, accepted: true, jobState: 'queued' }]);
      expect(seen).toEqual([[{ state: 'running', attempts: 1, attemptLimit: 3, backoff: job.spec.backoff }, FAILED]]);
      const delay = backoffMs(job.spec.backoff, 1, RANDOM);
      expect(delay).toBeGreaterThan(0);
      const after = await ctx.store.getJob(id);
      expect(after).toMatchObject({ state: 'queued', attempts: 1, notBefore: T0 + 100 + delay, nodeId: null, finishedAt: null, inDlq: false });
      expect(after?.reason).toContain('retry 2/3');
      expect(await queuedIds(ctx.store, T0 + 100 + delay - 1)).toEqual([]);
      expect(await queuedIds(ctx.store, T0 + 100 + delay)).toEqual([id]);
      const second = await start(ctx.store, id, 'n1', [], T0 + 100 + delay);
      expect((await ctx.store.listAttempts(id)).map((a) => [a.id, a.number, a.state])).toEqual([
        [attemptId, 1, 'failed'],
        [second, 2, 'running'],
      ]);
    });

    it('sends a job to the DLQ when its attempts run out, or at once when the failure is not retryable', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store, { maxAttempts: 2, backoff: { initialSeconds: 1, maxSeconds: 1, multiplier: 1 } });
      await end(ctx.store, await start(ctx.store, id, 'n1', []), FAILED, T0);
      await end(ctx.store, await start(ctx.store, id, 'n1', [], T0 + 5000), FAILED, T0 + 5000);
      const job = await ctx.store.getJob(id);
      expect(job).toMatchObject({ state: 'failed', inDlq: true, attempts: 2, finishedAt: T0 + 5000 });
      expect(job?.reason).toContain('gave up after 2');
      const fatal = await submit(ctx.store, { maxAttempts: 5 });
      await end(ctx.store, await start(ctx.store, fatal, 'n1', []), { state: 'failed', retryable: false, reason: 'no such program' }, T0);
      expect(await ctx.store.getJob(fatal)).toMatchObject({ state: 'failed', inDlq: true, attempts: 1 });
    });

    it('is atomic: when the decision throws, nothing of the call is kept, and calls made alongside are unaffected', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      const [j1, j2] = [await submit(ctx.store, { gpus: 1 }), await submit(ctx.store, { gpus: 1 })];
      const a1 = await start(ctx.store, j1!, 'n1', [0]);
      const a2 = await start(ctx.store, j2!, 'n1', [1]);
      const before = [await ctx.store.getJob(j1!), await ctx.store.getJob(j2!), await ctx.store.listEvents(j1!)];
      let calls = 0;
      const decide: DecideFn = (j, e) => {
        if (++calls === 2) throw new Error('decision failed');
        return decideAfterAttempt(j, e, T0 + 1, RANDOM);
      };
      const ended = ctx.store.endAttempts(
        [a1, a2].map((attemptId) => ({ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 1 })),
        decide,
        T0 + 1,
      );
      const alongside = ctx.store.submitJobs([spec({ name: 'alongside' })], T0 + 1);
      await expect(ended).rejects.toThrow('decision failed');
      const [submitted] = await alongside;
      expect(await ctx.store.getJob(submitted!.job.id)).toMatchObject({ name: 'alongside', state: 'queued' });
      expect([await ctx.store.getJob(j1!), await ctx.store.getJob(j2!), await ctx.store.listEvents(j1!)]).toEqual(before);
      expect((await ctx.store.listLiveAttempts()).map((a) => a.id)).toEqual([a1, a2]);
      expect(await freeDevices(ctx.store, 'n1')).toEqual([]);
    });

    it('refuses a report for an attempt that is no longer live, and changes nothing', async () => {
      await ctx.store.upsertNode(node('n1', 1));
      const id = await submit(ctx.store, { gpus: 1 });
      const attemptId = await start(ctx.store, id, 'n1', [0]);
      const other = await submit(ctx.store, { gpus: 1 });
      await end(ctx.store, attemptId, FAILED, T0 + 1);
      const otherAttempt = await start(ctx.store, other, 'n1', [0], T0 + 2);
      const before = { job: await ctx.store.getJob(id), attempt: await ctx.store.getAttempt(attemptId), events: await ctx.store.listEvents(id) };
      let calls = 0;
      const decide: DecideFn = (j, e) => {
        calls++;
        return decideAfterAttempt(j, e, T0 + 3, RANDOM);
      };
      const r = await ctx.store.endAttempts(
        [
          { attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 3 },
          { attemptId: 424_242, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 3 },
          { attemptId: otherAttempt, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 3 },
        ],
        decide,
        T0 + 3,
      );
      expect(r).toEqual([
        { attemptId, accepted: false },
        { attemptId: 424_242, accepted: false },
        { attemptId: otherAttempt, accepted: true, jobState: 'succeeded' },
      ]);
      expect(calls).toBe(1);
      expect({ job: await ctx.store.getJob(id), attempt: await ctx.store.getAttempt(attemptId), events: await ctx.store.listEvents(id) }).toEqual(before);
    });
  });

  describe('leases', () => {
    it('renews only live attempts of the node, and lists live and expired attempts', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      await ctx.store.upsertNode(node('n2', 0));
      const [j1, j2, j3] = [await submit(ctx.store), await submit(ctx.store), await submit(ctx.store)];
      const [a1] = await ctx.store.applyPlan([{ jobId: j1!, nodeId: 'n1', devices: [] }], T0, 1000);
      const [a2] = await ctx.store.applyPlan([{ jobId: j2!, nodeId: 'n1', devices: [] }], T0, 1000);
      const [a3] = await ctx.store.applyPlan([{ jobId: j3!, nodeId: 'n2', devices: [] }], T0, 5000);
      await end(ctx.store, a2!.attemptId, SUCCEEDED, T0 + 1);

      expect((await ctx.store.listLiveAttempts()).map((a) => a.id)).toEqual([a1!.attemptId, a3!.attemptId]);
      expect((await ctx.store.listLiveAttempts('n1')).map((a) => a.id)).toEqual([a1!.attemptId]);
      expect((await ctx.store.listExpiredAttempts(T0 + 1000)).map((a) => a.id)).toEqual([]);
      expect((await ctx.store.listExpiredAttempts(T0 + 2000)).map((a) => a.id)).toEqual([a1!.attemptId]);
      expect((await ctx.store.listExpiredAttempts(T0 + 6000)).map((a) => a.id)).toEqual([a1!.attemptId, a3!.attemptId]);

      const renewed = await ctx.store.renewLeases('n1', [a1!.attemptId, a2!.attemptId, a3!.attemptId, 999_999], T0 + 9000);
      expect(renewed).toEqual([a1!.attemptId]);
      expect((await ctx.store.getAttempt(a1!.attemptId))?.leaseExpiresAt).toBe(T0 + 9000);
      expect((await ctx.store.getAttempt(a3!.attemptId))?.leaseExpiresAt).toBe(T0 + 5000);
      expect((await ctx.store.getAttempt(a2!.attemptId))?.leaseExpiresAt).toBe(T0 + 1000);
      expect((await ctx.store.listExpiredAttempts(T0 + 6000)).map((a) => a.id)).toEqual([a3!.attemptId]);
      expect(await ctx.store.renewLeases('n1', [], T0 + 9000)).toEqual([]);
    });
  });

  describe('listAssignedAttempts', () => {
    it("lists a node's attempts that are assigned and not yet started, with what the agent needs to run them", async () => {
      await ctx.store.upsertNode(node('n1', 2));
      await ctx.store.upsertNode(node('n2', 0));
      const a = await submit(ctx.store, { type: 'exec', command: ['train', '--lr', '0.1'], gpus: 1, env: { A: '1' } }, T0 + 0.5);
      const b = await submit(ctx.store, { type: 'exec', command: ['true'] });
      const c = await submit(ctx.store, { type: 'exec', command: ['true'] });
      const d = await submit(ctx.store, { type: 'exec', command: ['true'] });
      const attemptA = await assign(ctx.store, a, 'n1', [1], T0 + 1);
      await start(ctx.store, b, 'n1', []);
      await assign(ctx.store, c, 'n2', []);
      const attemptD = await assign(ctx.store, d, 'n1', []);
      const listed = await ctx.store.listAssignedAttempts('n1');
      expect(listed.map((x) => x.attemptId)).toEqual([attemptA, attemptD]);
      expect(listed[0]).toEqual({
        attemptId: attemptA,
        jobId: a,
        number: 1,
        nodeId: 'n1',
        devices: [1],
        spec: spec({ type: 'exec', command: ['train', '--lr', '0.1'], gpus: 1, env: { A: '1' } }),
        jobCreatedAt: T0 + 0.5,
        leaseExpiresAt: T0 + 1 + LEASE_MS,
      });
      expect(await ctx.store.listAssignedAttempts('n3')).toEqual([]);
    });
  });
}
