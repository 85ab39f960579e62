import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/access.js';
import type { Pool } from '../../core/pool-spec.js';
import type { ContractContext } from './contract-context.js';
import { CANCELLED, end, FAILED, node, start, SUCCEEDED, T0 } from './fixtures.js';
import { addReplica, poolSpec, readyReplica, replicaJob, submitTasks } from './pool-fixtures.js';

/** Warm worker pools (pool-store.ts): definitions, replicas derived from their jobs, the credential key, feed events. */
export function poolContract(ctx: ContractContext): void {
  const audit = (action: AuditRecord['action'], target: string): AuditRecord => ({ at: T0, actor: 'ops', actorTokenId: null, role: 'operator', action, target, outcome: 'ok', detail: null });

  describe('pool definitions', () => {
    it('creates a pool at generation 1 with its audit record, reads and lists it, and refuses a second of the name', async () => {
      const created = await ctx.store.createPool(poolSpec('beta', { gpus: 1 }), T0, (p) => audit('pools.create', p.name));
      const expected: Pool = { name: 'beta', spec: poolSpec('beta', { gpus: 1 }), state: 'active', generation: 1, createdAt: T0, updatedAt: T0 };
      expect(created).toEqual(expected);
      await ctx.store.createPool(poolSpec('alpha'), T0 + 1);
      expect(await ctx.store.getPool('beta')).toEqual(expected);
      expect((await ctx.store.listPools()).map((p) => p.name)).toEqual(['alpha', 'beta']);
      expect(await ctx.store.getPool('nope')).toBeNull();
      await expect(ctx.store.createPool(poolSpec('beta', { gpus: 2 }), T0 + 2, (p) => audit('pools.create', p.name))).rejects.toMatchObject({ code: 'POOL_EXISTS', pool: 'beta' });
      expect(await ctx.store.getPool('beta')).toEqual(expected);
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.target)).toEqual(['beta']);
    });

    it('an update replaces the spec and bumps the generation; an unknown pool gives null', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const updated = await ctx.store.updatePool('p', poolSpec('p', { maxReplicas: 4 }), T0 + 10);
      expect(updated).toMatchObject({ generation: 2, updatedAt: T0 + 10, createdAt: T0, state: 'active', spec: { maxReplicas: 4 } });
      expect(await ctx.store.getPool('p')).toEqual(updated);
      expect(await ctx.store.updatePool('nope', poolSpec('nope'), T0)).toBeNull();
    });

    it('stops and starts pools by name or all, returning only those it changed', async () => {
      await ctx.store.createPool(poolSpec('a'), T0);
      await ctx.store.createPool(poolSpec('b'), T0);
      expect((await ctx.store.setPoolState(['a', 'nope'], 'stopped', T0 + 1)).map((p) => [p.name, p.state, p.updatedAt])).toEqual([['a', 'stopped', T0 + 1]]);
      expect(await ctx.store.setPoolState(['a'], 'stopped', T0 + 2)).toEqual([]);
      expect((await ctx.store.setPoolState('all', 'stopped', T0 + 3)).map((p) => p.name)).toEqual(['b']);
      expect((await ctx.store.setPoolState('all', 'active', T0 + 4)).map((p) => p.name)).toEqual(['a', 'b']);
      expect((await ctx.store.getPool('a'))?.state).toBe('active');
    });

    it('deletes a pool with its tasks and replica rows, returns its live replica jobs, and keeps the jobs', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const live = await addReplica(ctx.store, 'p');
      const gone = await addReplica(ctx.store, 'p');
      await ctx.store.cancelJobs({ ids: [gone] }, 'evicted', T0);
      const tasks = await submitTasks(ctx.store, 'p', 2);
      expect(await ctx.store.deletePool('p', T0 + 5)).toEqual([live]);
      expect(await ctx.store.getPool('p')).toBeNull();
      expect(await ctx.store.listPoolReplicas({ endedSince: 0 })).toEqual([]);
      expect(await ctx.store.getTasks('p', tasks)).toEqual([]);
      expect((await ctx.store.getJob(live))?.state).toBe('queued');
      expect(await ctx.store.deletePool('p', T0 + 6)).toBeNull();
      // The name is free again.
      expect((await ctx.store.createPool(poolSpec('p'), T0 + 7)).generation).toBe(1);
    });

    it('keeps one credential key, made at the first call, across restarts and concurrent first calls', async () => {
      const keys = await Promise.all([ctx.store.poolCredentialKey(), ctx.store.poolCredentialKey(), ctx.store.poolCredentialKey()]);
      expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
      expect(new Set(keys).size).toBe(1);
      await ctx.store.close();
      const reopened = await ctx.opened.reopen();
      expect(await reopened.poolCredentialKey()).toBe(keys[0]);
    });

    it.runIf(ctx.capabilities.replicas)('makes one credential key when several servers ask first at once', async () => {
      const others = [await ctx.opened.reopen(), await ctx.opened.reopen()];
      const keys = await Promise.all([ctx.store, ...others].flatMap((s) => [s.poolCredentialKey(), s.poolCredentialKey()]));
      expect(new Set(keys).size).toBe(1);
    });
  });

  describe('pool replicas', () => {
    it('starts replicas as ordinary queued jobs, and none for a stopped, missing or updated pool', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const replicas = await ctx.store.startReplicas('p', 1, [replicaJob('p'), replicaJob('p')], T0);
      expect(replicas).toHaveLength(2);
      expect(replicas[0]).toEqual({
        jobId: replicas[0]!.jobId, pool: 'p', generation: 1, state: 'pending', nodeId: null, devices: [], attemptId: null, createdAt: T0, startedAt: null,
        readyAt: null, endedAt: null, endReason: null, endDetail: null, stopRequested: false, tasksDone: 0, lastActiveAt: null,
      });
      const job = await ctx.store.getJob(replicas[0]!.jobId);
      expect(job).toMatchObject({ state: 'queued', queue: 'pool.p', name: 'pool:p', spec: { labels: { 'gpuq.pool': 'p' }, maxAttempts: 1 }, owner: null });
      expect(await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 })).toEqual(replicas);
      const jobsBefore = (await ctx.store.listJobs({}, { limit: 100 })).items.length;
      expect(await ctx.store.startReplicas('p', 2, [replicaJob('p')], T0)).toEqual([]);
      expect(await ctx.store.startReplicas('nope', 1, [replicaJob('nope')], T0)).toEqual([]);
      await ctx.store.setPoolState(['p'], 'stopped', T0);
      expect(await ctx.store.startReplicas('p', 1, [replicaJob('p')], T0)).toEqual([]);
      expect((await ctx.store.listJobs({}, { limit: 100 })).items).toHaveLength(jobsBefore);
    });

    it('derives each replica state from its job and live attempt: pending, starting, ready, stopping, ended', async () => {
      await ctx.store.upsertNode(node('n1', 2));
      await ctx.store.createPool(poolSpec('p', { gpus: 1 }), T0);
      const jobId = await addReplica(ctx.store, 'p');
      const state = async () => (await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 })).find((r) => r.jobId === jobId)!;
      expect((await state()).state).toBe('pending');
      const attemptId = await start(ctx.store, jobId, 'n1', [1], T0 + 10);
      expect(await state()).toMatchObject({ state: 'starting', nodeId: 'n1', devices: [1], attemptId, startedAt: T0 + 10, readyAt: null });
      expect(await ctx.store.markReplicaReady(jobId, attemptId, T0 + 20)).toBe(true);
      expect(await state()).toMatchObject({ state: 'ready', readyAt: T0 + 20, lastActiveAt: T0 + 20 });
      // A repeated ready keeps the first time.
      expect(await ctx.store.markReplicaReady(jobId, attemptId, T0 + 30)).toBe(true);
      expect((await state()).readyAt).toBe(T0 + 20);
      await ctx.store.requestReplicaStop([jobId], 'idle', T0 + 40);
      await ctx.store.requestReplicaStop([jobId], 'replaced', T0 + 41);
      expect(await state()).toMatchObject({ state: 'stopping', stopRequested: true });
      await end(ctx.store, attemptId, SUCCEEDED, T0 + 50, 0);
      expect(await state()).toMatchObject({ state: 'ended', endedAt: T0 + 50, endReason: 'idle', endDetail: null, attemptId, nodeId: 'n1' });
      expect(await ctx.store.listPoolReplicas({ pool: 'p', endedSince: T0 + 51 })).toEqual([]);
      expect((await ctx.store.listPoolReplicas({ endedSince: T0 + 50 })).map((r) => r.jobId)).toEqual([jobId]);
    });

    it('names why a replica ended: the reason its host reported first, else from its job: crashed, evicted, lost, stopped', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      await ctx.store.createPool(poolSpec('p'), T0);
      const run = async () => {
        const jobId = await addReplica(ctx.store, 'p');
        return { jobId, attemptId: await start(ctx.store, jobId, 'n1', []) };
      };
      const [oom, crashed, evicted, lost, exited] = [await run(), await run(), await run(), await run(), await run()];
      await ctx.store.recordReplicaEnd(oom.jobId, 'oom', 'CUDA out of memory', T0 + 1);
      await ctx.store.recordReplicaEnd(oom.jobId, 'crashed', 'exit 1', T0 + 2);
      await end(ctx.store, oom.attemptId, FAILED, T0 + 3, 1);
      await end(ctx.store, crashed.attemptId, FAILED, T0 + 3, 1);
      await ctx.store.cancelJobs({ ids: [evicted.jobId] }, 'evicted', T0 + 3);
      await end(ctx.store, evicted.attemptId, CANCELLED, T0 + 3);
      await end(ctx.store, lost.attemptId, { state: 'lost', retryable: true, reason: 'lease expired' }, T0 + 3);
      await end(ctx.store, exited.attemptId, SUCCEEDED, T0 + 3, 0);
      // A host that stops cleanly when asked reports "stopped": the reason it was asked to stop for is kept.
      const idle = await run();
      await ctx.store.requestReplicaStop([idle.jobId], 'idle', T0 + 4);
      await ctx.store.recordReplicaEnd(idle.jobId, 'stopped', null, T0 + 5);
      await end(ctx.store, idle.attemptId, SUCCEEDED, T0 + 5, 0);
      const reasons = Object.fromEntries((await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 })).map((r) => [r.jobId, [r.state, r.endReason, r.endDetail]]));
      expect(reasons).toEqual({
        [oom.jobId]: ['ended', 'oom', 'CUDA out of memory'],
        [crashed.jobId]: ['ended', 'crashed', null],
        [evicted.jobId]: ['ended', 'evicted', null],
        [lost.jobId]: ['ended', 'lost', null],
        [exited.jobId]: ['ended', 'stopped', null],
        [idle.jobId]: ['ended', 'idle', null],
      });
    });

    it('marks a replica ready only for its live attempt', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      await ctx.store.createPool(poolSpec('p'), T0);
      const jobId = await addReplica(ctx.store, 'p');
      expect(await ctx.store.markReplicaReady(jobId, 999_999, T0)).toBe(false);
      const attemptId = await start(ctx.store, jobId, 'n1', []);
      const other = await addReplica(ctx.store, 'p');
      // Another replica's attempt does not make this one ready.
      expect(await ctx.store.markReplicaReady(other, attemptId, T0)).toBe(false);
      await end(ctx.store, attemptId, FAILED, T0 + 1, 1);
      expect(await ctx.store.markReplicaReady(jobId, attemptId, T0 + 2)).toBe(false);
      expect((await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 })).map((r) => r.readyAt)).toEqual([null, null]);
    });

    it('retention purges an ended replica job with its replica row', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await end(ctx.store, attemptId, SUCCEEDED, T0 + 1, 0);
      expect(await ctx.store.purgeFinishedJobs(T0 + 2, 10)).toBe(1);
      expect(await ctx.store.getJob(jobId)).toBeNull();
      expect(await ctx.store.listPoolReplicas({ endedSince: 0 })).toEqual([]);
    });
  });

  describe('pool feed events', () => {
    it('records pool creation, update, stop, start, deletion and each replica ready, and no task', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      await ctx.store.updatePool('p', poolSpec('p', { maxReplicas: 2 }), T0 + 1);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p', T0 + 2);
      await submitTasks(ctx.store, 'p', 3, T0 + 3);
      await ctx.store.setPoolState(['p'], 'stopped', T0 + 4);
      await ctx.store.setPoolState(['p'], 'active', T0 + 5);
      await ctx.store.deletePool('p', T0 + 6);
      const read = await ctx.store.readFeed(0, { types: ['pool.created', 'pool.updated', 'pool.stopped', 'pool.started', 'pool.deleted', 'pool.replica.ready'] }, 100);
      expect(read.events.map(({ id: _id, ...rest }) => rest)).toEqual([
        { type: 'pool.created', at: T0, pool: 'p', generation: 1 },
        { type: 'pool.updated', at: T0 + 1, pool: 'p', generation: 2 },
        { type: 'pool.replica.ready', at: T0 + 2, pool: 'p', jobId, queue: 'pool.p', attemptId, generation: 2 },
        { type: 'pool.stopped', at: T0 + 4, pool: 'p' },
        { type: 'pool.started', at: T0 + 5, pool: 'p' },
        { type: 'pool.deleted', at: T0 + 6, pool: 'p' },
      ]);
      const all = await ctx.store.readFeed(0, {}, 1000);
      expect(all.events.filter((e) => !e.type.startsWith('pool.') && e.type !== 'job.state' && e.type !== 'node.state')).toEqual([]);
    });
  });
}
