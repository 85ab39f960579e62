import { describe, expect, it } from 'vitest';
import type { PoolTask } from '../../core/pool-spec.js';
import type { StoreEvent } from '../store-events.js';
import type { ContractContext } from './contract-context.js';
import { end, FAILED, T0 } from './fixtures.js';
import { addReplica, poolSpec, random, readyReplica, submitTasks } from './pool-fixtures.js';

/** Pool tasks (pool-store.ts): submit, claim for a live replica attempt, exactly-once completion, redelivery, DLQ, counts. */
export function poolTaskContract(ctx: ContractContext): void {
  const ids = (claimed: unknown) => (Array.isArray(claimed) ? claimed.map((t: { id: number }) => t.id) : claimed);

  describe('pool tasks', () => {
    it('submits tasks queued and cold, returns an existing task for a known idempotency key, and refuses unknown or stopped pools', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 2 }), T0);
      const out = await ctx.store.submitTasks('p', [{ payloadJson: '{"a":1}', idempotencyKey: 'k1' }, { payloadJson: '[1,2]' }, { payloadJson: '"again"', idempotencyKey: 'k1' }], T0, { name: 'ci', tokenId: 'tok_ci' });
      const first: PoolTask = {
        id: out[0]!.task.id, pool: 'p', state: 'queued', idempotencyKey: 'k1', payload: { a: 1 }, result: null, error: null, attempts: 0, attemptLimit: 2,
        inDlq: false, notBefore: T0, replicaJobId: null, cold: true, createdAt: T0, startedAt: null, finishedAt: null, history: [],
      };
      expect(out.map((o) => o.created)).toEqual([true, true, false]);
      expect(out[0]!.task).toEqual(first);
      expect(out[2]!.task).toEqual(first);
      expect(out[1]!.task.id).toBeGreaterThan(first.id);
      expect(await ctx.store.getTasks('p', [out[1]!.task.id, first.id, 424_242])).toEqual([out[1]!.task, first]);
      const again = await ctx.store.submitTasks('p', [{ payloadJson: '{}', idempotencyKey: 'k1' }], T0 + 1);
      expect(again).toEqual([{ task: first, created: false }]);
      await expect(ctx.store.submitTasks('nope', [{ payloadJson: '1' }], T0)).rejects.toMatchObject({ code: 'POOL_NOT_FOUND', pool: 'nope' });
      await ctx.store.setPoolState(['p'], 'stopped', T0);
      await expect(ctx.store.submitTasks('p', [{ payloadJson: '1' }], T0)).rejects.toMatchObject({ code: 'POOL_STOPPED', pool: 'p' });
      expect((await ctx.store.listTasks('p', {}, { limit: 10 })).items).toHaveLength(2);
    });

    it('a task submitted while a replica is ready is not cold', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const { jobId } = await readyReplica(ctx.store, 'p');
      const [warm] = await submitTasks(ctx.store, 'p', 1);
      expect((await ctx.store.getTasks('p', [warm!]))[0]?.cold).toBe(false);
      await ctx.store.requestReplicaStop([jobId], 'idle', T0);
      const [cold] = await submitTasks(ctx.store, 'p', 1);
      expect((await ctx.store.getTasks('p', [cold!]))[0]?.cold).toBe(true);
    });

    it('lists a pool\'s tasks newest first, by state and DLQ, a page at a time', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 1 }), T0);
      await ctx.store.createPool(poolSpec('q'), T0);
      const tasks = await submitTasks(ctx.store, 'p', 5);
      await submitTasks(ctx.store, 'q', 2);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      const claimed = await ctx.store.claimTasks(jobId, attemptId, 2, T0, []);
      expect(ids(claimed)).toEqual(tasks.slice(0, 2));
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[0]!, attempt: 1, error: 'bad input', retryable: false }], T0, random);
      const page1 = await ctx.store.listTasks('p', {}, { limit: 3 });
      expect(page1.items.map((t) => t.id)).toEqual([tasks[4], tasks[3], tasks[2]]);
      const page2 = await ctx.store.listTasks('p', {}, { limit: 3, cursor: page1.nextCursor! });
      expect(page2).toEqual({ items: (await ctx.store.getTasks('p', [tasks[1]!, tasks[0]!])), nextCursor: null });
      expect((await ctx.store.listTasks('p', { states: ['running', 'failed'] }, { limit: 10 })).items.map((t) => t.id)).toEqual([tasks[1], tasks[0]]);
      expect((await ctx.store.listTasks('p', { inDlq: true }, { limit: 10 })).items.map((t) => t.id)).toEqual([tasks[0]]);
      expect((await ctx.store.listTasks('p', { states: [] }, { limit: 10 })).items).toEqual([]);
      await expect(ctx.store.listTasks('p', {}, { limit: 3, cursor: 'bogus' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('claims the oldest runnable tasks for the replica\'s live attempt only; says stop when asked to, gone when not live', async () => {
      await ctx.store.createPool(poolSpec('p', { taskTimeoutSeconds: 60 }), T0);
      const tasks = await submitTasks(ctx.store, 'p', 3);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      expect(await ctx.store.claimTasks(jobId, attemptId + 1000, 5, T0, [])).toBe('gone');
      const other = await addReplica(ctx.store, 'p');
      expect(await ctx.store.claimTasks(other, attemptId, 5, T0, [])).toBe('gone');
      expect(await ctx.store.claimTasks(jobId, attemptId, 2, T0 + 5, [])).toEqual([
        { id: tasks[0], attempt: 1, payload: { n: 0 } },
        { id: tasks[1], attempt: 1, payload: { n: 1 } },
      ]);
      const [running] = await ctx.store.getTasks('p', [tasks[0]!]);
      expect(running).toMatchObject({ state: 'running', attempts: 1, replicaJobId: jobId, startedAt: T0 + 5 });
      expect((await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 })).find((r) => r.jobId === jobId)?.lastActiveAt).toBe(T0 + 5);
      expect(ids(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 6, tasks.slice(0, 2)))).toEqual([tasks[2]]);
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 7, tasks)).toEqual([]);
      await ctx.store.setPoolState(['p'], 'stopped', T0 + 8);
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 9, tasks)).toBe('stop');
      await ctx.store.setPoolState(['p'], 'active', T0 + 10);
      await ctx.store.requestReplicaStop([jobId], 'idle', T0 + 11);
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 12, tasks)).toBe('stop');
      await end(ctx.store, attemptId, FAILED, T0 + 13, 1);
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 14, tasks)).toBe('gone');
    });

    it('hands back the tasks of a claim whose answer was lost, first and at the same attempt; never a held task, never another attempt\'s', async () => {
      await ctx.store.createPool(poolSpec('p', { taskTimeoutSeconds: 60 }), T0);
      const [t0, t1, t2, t3, t4] = await submitTasks(ctx.store, 'p', 5);
      const a = await readyReplica(ctx.store, 'p');
      const b = await readyReplica(ctx.store, 'p');
      // Claimed for a; the answer never reaches its host.
      expect(await ctx.store.claimTasks(a.jobId, a.attemptId, 2, T0 + 1, [])).toEqual([
        { id: t0, attempt: 1, payload: { n: 0 } },
        { id: t1, attempt: 1, payload: { n: 1 } },
      ]);
      // Another replica attempt's task: never handed to a, held or not.
      expect(ids(await ctx.store.claimTasks(b.jobId, b.attemptId, 1, T0 + 1, []))).toEqual([t2]);
      // a's host asks again holding nothing: the lost tasks first, as they were, then a new one within the 3 asked.
      expect(await ctx.store.claimTasks(a.jobId, a.attemptId, 3, T0 + 2, [])).toEqual([
        { id: t0, attempt: 1, payload: { n: 0 } },
        { id: t1, attempt: 1, payload: { n: 1 } },
        { id: t3, attempt: 1, payload: { n: 3 } },
      ]);
      // Handing back is no new delivery: same attempt, no history, still a's.
      expect((await ctx.store.getTasks('p', [t0!]))[0]).toMatchObject({ state: 'running', attempts: 1, replicaJobId: a.jobId, history: [] });
      // Held tasks are not handed back twice; only new work comes.
      expect(ids(await ctx.store.claimTasks(a.jobId, a.attemptId, 5, T0 + 3, [t0!, t1!, t3!]))).toEqual([t4]);
      expect(await ctx.store.claimTasks(a.jobId, a.attemptId, 5, T0 + 4, [t0!, t1!, t3!, t4!])).toEqual([]);
      // Lost again, more than asked for: the oldest, within `want`; none with want 0.
      expect(await ctx.store.claimTasks(a.jobId, a.attemptId, 0, T0 + 5, [])).toEqual([]);
      expect(ids(await ctx.store.claimTasks(a.jobId, a.attemptId, 1, T0 + 5, [t4!]))).toEqual([t0]);
      // A task answered is no longer a's to hand back; the answer to the handed-back delivery is its attempt 1's.
      expect((await ctx.store.completeTasks(a.jobId, a.attemptId, [{ taskId: t0!, attempt: 1, result: 'ok' }], T0 + 6, random)).map((c) => c.accepted)).toEqual([true]);
      expect(ids(await ctx.store.claimTasks(a.jobId, a.attemptId, 5, T0 + 7, [t4!]))).toEqual([t1, t3]);
      // b never saw a's tasks: its own lost task only.
      expect(ids(await ctx.store.claimTasks(b.jobId, b.attemptId, 5, T0 + 8, []))).toEqual([t2]);
      // Handing back renews the deadline (the host times the task from when it gets it; 60 s and a 5 s margin): t4, held
      // since its claim at T0 + 3, is past its deadline first; t1 and t3, handed back at T0 + 7, and t2, at T0 + 8, later.
      expect((await ctx.store.redeliverTasks(T0 + 7 + 65_000)).map((r) => [r.taskId, r.replicaJobId])).toEqual([[t4, a.jobId]]);
      expect((await ctx.store.redeliverTasks(T0 + 8 + 65_001)).map((r) => [r.taskId, r.replicaJobId])).toEqual([[t1, a.jobId], [t2, b.jobId], [t3, a.jobId]]);
    });

    it('accepts a task\'s result once, from the delivery that holds it', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const [t1, t2] = await submitTasks(ctx.store, 'p', 2);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(jobId, attemptId, 2, T0 + 1, []);
      const done = await ctx.store.completeTasks(jobId, attemptId, [{ taskId: t1!, attempt: 1, result: { label: 'cat' } }, { taskId: t1!, attempt: 1, result: 'twice' }, { taskId: t2!, attempt: 2, result: 'wrong attempt' }], T0 + 2, random);
      expect(done).toEqual([
        { taskId: t1, accepted: true, pool: 'p', state: 'succeeded', createdAt: T0, startedAt: T0 + 1, cold: true },
        { taskId: t1, accepted: false },
        { taskId: t2, accepted: false },
      ]);
      expect(await ctx.store.completeTasks(jobId, attemptId, [{ taskId: t1!, attempt: 1, result: 'late' }], T0 + 3, random)).toEqual([{ taskId: t1, accepted: false }]);
      expect(await ctx.store.completeTasks(jobId, attemptId + 1, [{ taskId: t2!, attempt: 1, result: 'other attempt' }], T0 + 3, random)).toEqual([{ taskId: t2, accepted: false }]);
      expect((await ctx.store.getTasks('p', [t1!]))[0]).toMatchObject({ state: 'succeeded', result: { label: 'cat' }, finishedAt: T0 + 2, error: null });
      expect((await ctx.store.listPoolReplicas({ pool: 'p', endedSince: 0 }))[0]).toMatchObject({ tasksDone: 1, lastActiveAt: T0 + 2 });
      expect(await ctx.store.lastColdStart('p')).toEqual({ taskId: t1, replicaJobId: jobId, acceptedAt: T0, replicaReadyAt: T0, resultAt: T0 + 2 });
    });

    it('requeues a retryable error after the pool\'s backoff, and fails a task into the DLQ when not retryable or out of attempts', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 2, backoff: { initialSeconds: 1, maxSeconds: 10, multiplier: 2 } }), T0);
      const [t1, t2] = await submitTasks(ctx.store, 'p', 2);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(jobId, attemptId, 2, T0, []);
      const errors = await ctx.store.completeTasks(jobId, attemptId, [{ taskId: t1!, attempt: 1, error: 'CUDA busy', retryable: true }, { taskId: t2!, attempt: 1, error: 'bad input', retryable: false }], T0 + 100, random);
      expect(errors.map((c) => c.state)).toEqual(['queued', 'failed']);
      // Backoff after 1 failed delivery: initialSeconds, half of it fixed and half scaled by random (0.5): 750 ms.
      expect((await ctx.store.getTasks('p', [t1!]))[0]).toMatchObject({
        state: 'queued', attempts: 1, notBefore: T0 + 850, error: null,
        history: [{ attempt: 1, replicaJobId: jobId, reason: 'CUDA busy; retry 2/2 in 0.8s', at: T0 + 100 }],
      });
      expect((await ctx.store.getTasks('p', [t2!]))[0]).toMatchObject({ state: 'failed', inDlq: true, error: 'bad input (not retryable)', finishedAt: T0 + 100 });
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 849, [])).toEqual([]);
      expect(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 850, [])).toEqual([{ id: t1, attempt: 2, payload: { n: 0 } }]);
      const [last] = await ctx.store.completeTasks(jobId, attemptId, [{ taskId: t1!, attempt: 2, error: 'CUDA busy', retryable: true }], T0 + 900, random);
      expect(last?.state).toBe('failed');
      expect((await ctx.store.getTasks('p', [t1!]))[0]).toMatchObject({ state: 'failed', inDlq: true, error: 'CUDA busy; gave up after 2 attempt(s)' });
    });

    it('replays DLQ tasks with a fresh budget, keeping their history', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 1 }), T0);
      const [t1, t2, t3] = await submitTasks(ctx.store, 'p', 3);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(jobId, attemptId, 3, T0, []);
      await ctx.store.completeTasks(jobId, attemptId, [1, 2].map((i) => ({ taskId: [t1, t2][i - 1]!, attempt: 1, error: `e${i}`, retryable: true })), T0 + 1, random);
      const replayed = await ctx.store.replayTasks('p', { ids: [t2!, t3!, t1!] }, T0 + 2, (tasks) => ({ at: T0 + 2, actor: 'ops', actorTokenId: null, role: 'operator', action: 'pools.replay', target: `pool p: ${tasks.length} task(s)`, outcome: 'ok', detail: null }));
      expect(replayed.map((t) => [t.id, t.state, t.attemptLimit, t.inDlq, t.error, t.notBefore, t.history.length])).toEqual([
        [t2, 'queued', 2, false, null, T0 + 2, 1],
        [t1, 'queued', 2, false, null, T0 + 2, 1],
      ]);
      expect((await ctx.store.listAudit({}, { limit: 5 })).items.map((e) => e.target)).toEqual(['pool p: 2 task(s)']);
      expect(await ctx.store.replayTasks('p', { all: true }, T0 + 3)).toEqual([]);
      // t3 is still running in the replica: it holds it.
      expect(ids(await ctx.store.claimTasks(jobId, attemptId, 5, T0 + 3, [t3!]))).toEqual([t1, t2]);
    });

    it('redelivers the tasks of a replica attempt that ended, and tasks past their deadline, into the DLQ when out of attempts', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 2, taskTimeoutSeconds: 10 }), T0);
      const [t1, t2, t3] = await submitTasks(ctx.store, 'p', 3);
      const a = await readyReplica(ctx.store, 'p');
      const b = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(a.jobId, a.attemptId, 2, T0, []);
      await ctx.store.claimTasks(b.jobId, b.attemptId, 1, T0 + 1000, []);
      expect(await ctx.store.redeliverTasks(T0 + 1)).toEqual([]);
      await end(ctx.store, a.attemptId, FAILED, T0 + 2, 137);
      expect(await ctx.store.redeliverTasks(T0 + 3)).toEqual([
        { taskId: t1, pool: 'p', replicaJobId: a.jobId, reason: 'replica-ended', state: 'queued' },
        { taskId: t2, pool: 'p', replicaJobId: a.jobId, reason: 'replica-ended', state: 'queued' },
      ]);
      expect((await ctx.store.getTasks('p', [t1!]))[0]).toMatchObject({
        state: 'queued', notBefore: T0 + 3, history: [{ attempt: 1, replicaJobId: a.jobId, reason: expect.stringMatching(/ended.*redelivered \(attempt 2\/2\)$/), at: T0 + 3 }],
      });
      // Deadline: the task timeout and a margin of 5 s after the claim.
      expect(await ctx.store.redeliverTasks(T0 + 1000 + 15_000)).toEqual([]);
      expect(await ctx.store.redeliverTasks(T0 + 1000 + 15_001)).toEqual([{ taskId: t3, pool: 'p', replicaJobId: b.jobId, reason: 'task-timeout', state: 'queued' }]);
      // Second deliveries, lost again: no attempts left.
      expect(ids(await ctx.store.claimTasks(b.jobId, b.attemptId, 5, T0 + 20_000, []))).toEqual([t1, t2, t3]);
      await end(ctx.store, b.attemptId, FAILED, T0 + 20_001, 1);
      const gaveUp = await ctx.store.redeliverTasks(T0 + 20_002);
      expect(gaveUp.map((r) => [r.taskId, r.state])).toEqual([[t1, 'failed'], [t2, 'failed'], [t3, 'failed']]);
      const [failed] = await ctx.store.getTasks('p', [t3!]);
      expect(failed).toMatchObject({ state: 'failed', inDlq: true, attempts: 2, finishedAt: T0 + 20_002, error: expect.stringMatching(/gave up after 2 attempt/) });
      expect(failed!.history.map((h) => h.attempt)).toEqual([1, 2]);
      // A result that arrives after the redelivery is refused.
      expect(await ctx.store.completeTasks(a.jobId, a.attemptId, [{ taskId: t1!, attempt: 1, result: 'late' }], T0 + 20_003, random)).toEqual([{ taskId: t1, accepted: false }]);
    });

    it('counts each pool\'s backlog and recent outcomes, pools without tasks included', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 1 }), T0);
      await ctx.store.createPool(poolSpec('idle'), T0);
      const tasks = await submitTasks(ctx.store, 'p', 6);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(jobId, attemptId, 4, T0, []);
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[0]!, attempt: 1, result: 1 }], T0 + 10, random);
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[1]!, attempt: 1, result: 2 }, { taskId: tasks[2]!, attempt: 1, error: 'x', retryable: false }], T0 + 20, random);
      expect(await ctx.store.poolBacklogs(T0 + 30, T0 + 15)).toEqual([
        { pool: 'idle', runnable: 0, queued: 0, running: 0, succeededSince: 0, failedSince: 0 },
        { pool: 'p', runnable: 2, queued: 2, running: 1, succeededSince: 1, failedSince: 1 },
      ]);
      // Finishes in later seconds, and a task the sweep gave up on, counted from any point in time on.
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[3]!, attempt: 1, result: 4 }], T0 + 2500, random);
      const other = await readyReplica(ctx.store, 'p', T0 + 2600);
      await ctx.store.claimTasks(other.jobId, other.attemptId, 1, T0 + 2600, []);
      await end(ctx.store, other.attemptId, FAILED, T0 + 2700, 1);
      expect((await ctx.store.redeliverTasks(T0 + 3100)).map((r) => r.state)).toEqual(['failed']);
      const finished = async (since: number) => {
        const b = (await ctx.store.poolBacklogs(T0 + 4000, since)).find((x) => x.pool === 'p')!;
        return [b.succeededSince, b.failedSince];
      };
      expect(await finished(T0)).toEqual([3, 2]);
      expect(await finished(T0 + 15)).toEqual([2, 2]);
      expect(await finished(T0 + 1000)).toEqual([1, 1]);
      expect(await finished(T0 + 2600)).toEqual([0, 1]);
      expect(await finished(T0 + 3101)).toEqual([0, 0]);
      expect(await ctx.store.lastColdStart('idle')).toBeNull();
    });

    it('retention deletes finished tasks out of the DLQ, oldest first, up to the limit', async () => {
      await ctx.store.createPool(poolSpec('p', { maxAttempts: 1 }), T0);
      const tasks = await submitTasks(ctx.store, 'p', 4);
      const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
      await ctx.store.claimTasks(jobId, attemptId, 4, T0, []);
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[0]!, attempt: 1, result: 0 }], T0 + 1, random);
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[1]!, attempt: 1, result: 0 }], T0 + 2, random);
      await ctx.store.completeTasks(jobId, attemptId, [{ taskId: tasks[2]!, attempt: 1, error: 'x', retryable: false }], T0 + 3, random);
      expect(await ctx.store.purgeFinishedTasks(T0 + 10, 1)).toBe(1);
      expect((await ctx.store.getTasks('p', tasks)).map((t) => t.id)).toEqual(tasks.slice(1));
      expect(await ctx.store.purgeFinishedTasks(T0 + 10, 10)).toBe(1);
      expect((await ctx.store.getTasks('p', tasks)).map((t) => t.state)).toEqual(['failed', 'running']);
    });

    it('announces claimable tasks, results and pool changes', async () => {
      const seen: StoreEvent[] = [];
      const sub = ctx.store.subscribe((e) => seen.push(e));
      await sub.ready;
      try {
        const heard = (type: StoreEvent['type']) => seen.filter((e) => e.type === type);
        await ctx.store.createPool(poolSpec('p'), T0);
        const { jobId, attemptId } = await readyReplica(ctx.store, 'p');
        const [t1, t2] = await submitTasks(ctx.store, 'p', 2);
        await ctx.store.claimTasks(jobId, attemptId, 2, T0, []);
        await ctx.store.completeTasks(jobId, attemptId, [{ taskId: t1!, attempt: 1, result: 1 }, { taskId: t2!, attempt: 1, error: 'busy', retryable: true }], T0 + 1, random);
        await ctx.store.setMaintenanceMode('drain', T0);
        await expect.poll(() => heard('maintenance').length).toBe(1);
        // On PostgreSQL each hint is its own NOTIFY: wait for all of them rather than assume their order.
        await expect.poll(() => heard('pool-tasks')).toEqual([{ type: 'pool-tasks', pools: ['p'] }, { type: 'pool-tasks', pools: ['p'] }]);
        // The result ended t1; t2's retryable error put it back in the queue, so it is no result.
        await expect.poll(() => heard('pool-results')).toEqual([{ type: 'pool-results', pools: ['p'], tasks: [t1] }]);
        expect(heard('pools').length).toBeGreaterThanOrEqual(3);
      } finally {
        sub.unsubscribe();
      }
    });

    it.runIf(ctx.capabilities.replicas)('never gives one task to two replicas claiming at once from two servers', async () => {
      await ctx.store.createPool(poolSpec('p'), T0);
      const other = await ctx.opened.reopen();
      const a = await readyReplica(ctx.store, 'p');
      const b = await readyReplica(ctx.store, 'p');
      const tasks = await submitTasks(ctx.store, 'p', 600);
      // Each replica is claimed for from both servers at once, each claim listing what that replica got so far as held
      // (two exchanges of one host at once: one may be handed back what the other just claimed, to the same replica).
      const heldBy = new Map([a, b].map((r) => [r.jobId, new Set<number>()]));
      const claimAll = async (store: typeof other, r: { jobId: number; attemptId: number }) => {
        const held = heldBy.get(r.jobId)!;
        for (;;) {
          const claimed = await store.claimTasks(r.jobId, r.attemptId, 7, T0 + 1, [...held]);
          if (!Array.isArray(claimed) || claimed.length === 0) return;
          for (const t of claimed) held.add(t.id);
        }
      };
      await Promise.all([claimAll(ctx.store, a), claimAll(other, b), claimAll(other, a), claimAll(ctx.store, b)]);
      const [fromA, fromB] = [heldBy.get(a.jobId)!, heldBy.get(b.jobId)!];
      expect([...fromA].filter((id) => fromB.has(id))).toEqual([]);
      expect(fromA.size + fromB.size).toBe(tasks.length);
      expect(fromA.size).toBeGreaterThan(0);
      expect(fromB.size).toBeGreaterThan(0);
      // Each claimed once: one delivery each.
      expect((await ctx.store.getTasks('p', tasks)).every((t) => t.state === 'running' && t.attempts === 1)).toBe(true);
    });
  });
}
