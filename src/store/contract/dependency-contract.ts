import { describe, expect, it } from 'vitest';
import type { AttemptEnd } from '../../core/retry-policy.js';
import { ValidationError } from '../../core/errors.js';
import type { Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { CANCELLED, decideAt, end, FAILED, node, queuedIds, spec, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** Runs one attempt of a job to the given end; returns the job's state after it. */
async function run(store: Store, jobId: number, how: AttemptEnd, now = T0) {
  return (await end(store, await start(store, jobId, 'n1', [], now), how, now)).jobState;
}

async function stateOf(store: Store, id: number) {
  const j = await store.getJob(id);
  return j && { state: j.state, inDlq: j.inDlq, reason: j.reason };
}

/** Job dependencies (spec.dependsOn; core/dependencies.ts): waiting, release, failure cascades, replay, retention. */
export function dependencyContract(ctx: ContractContext): void {
  describe('job dependencies', () => {
    it('refuses a submit naming a job that does not exist, storing nothing of the batch', async () => {
      const a = await submit(ctx.store);
      const missing = a + 1000;
      const single = ctx.store.submitJobs([spec({ dependsOn: [a, missing] })], T0);
      await expect(single).rejects.toBeInstanceOf(ValidationError);
      await expect(single).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'dependsOn.1', message: expect.stringContaining(`job ${missing} does not exist`) }] });
      const batch = ctx.store.submitJobs([spec({ name: 'ok' }), spec({ dependsOn: [a] }), spec({ dependsOn: [missing, a, missing + 1] })], T0);
      await expect(batch).rejects.toMatchObject({ issues: [{ path: 'jobs.2.dependsOn.0' }, { path: 'jobs.2.dependsOn.2' }] });
      expect((await ctx.store.listJobs({}, { limit: 10 })).items.map((j) => j.id)).toEqual([a]);
      // An idempotent repeat inserts nothing, so its dependencies are not checked: it returns the job as before.
      const [keyed] = await ctx.store.submitJobs([spec({ idempotencyKey: 'k' })], T0);
      const [again] = await ctx.store.submitJobs([spec({ idempotencyKey: 'k', dependsOn: [missing] })], T0);
      expect(again).toMatchObject({ created: false, job: { id: keyed!.job.id } });
    });

    it('keeps a job queued and out of the scheduler until every dependency succeeded', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store);
      const b = await submit(ctx.store);
      const [out] = await ctx.store.submitJobs([spec({ dependsOn: [a, b] })], T0);
      const c = out!.job.id;
      expect(out!.job).toMatchObject({ state: 'queued', reason: null });
      expect(out!.job.spec.dependsOn).toEqual([a, b]);
      expect(await ctx.store.getJob(c)).toEqual(out!.job);
      expect(await queuedIds(ctx.store, T0)).toEqual([a, b]);
      expect(await ctx.store.applyPlan([{ jobId: c, nodeId: 'n1', devices: [] }], T0, 1000)).toEqual([]);
      expect(await ctx.store.listDependencies(c)).toEqual([
        { jobId: a, state: 'queued', met: false },
        { jobId: b, state: 'queued', met: false },
      ]);

      // A failed attempt with attempts left is a retry, not the dependency's end.
      expect(await run(ctx.store, a, FAILED, T0 + 1)).toBe('queued');
      expect(await run(ctx.store, a, SUCCEEDED, T0 + 20_000)).toBe('succeeded');
      expect(await queuedIds(ctx.store, T0 + 20_000)).toEqual([b]);
      expect(await run(ctx.store, b, SUCCEEDED, T0 + 20_001)).toBe('succeeded');
      expect(await queuedIds(ctx.store, T0 + 20_001)).toEqual([c]);
      expect(await ctx.store.listDependencies(c)).toEqual([
        { jobId: a, state: 'succeeded', met: true },
        { jobId: b, state: 'succeeded', met: true },
      ]);
      expect(await run(ctx.store, c, SUCCEEDED, T0 + 20_002)).toBe('succeeded');
      expect(await ctx.store.listDependencies(a)).toEqual([]);
    });

    it('counts a dependency that already succeeded as met, and fails a job whose dependency already failed or was cancelled', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const done = await submit(ctx.store);
      await run(ctx.store, done, SUCCEEDED);
      const bad = await submit(ctx.store, { maxAttempts: 1 });
      await run(ctx.store, bad, FAILED);
      const gone = await submit(ctx.store);
      await ctx.store.cancelJobs({ ids: [gone] }, 'not needed', T0);

      const out = await ctx.store.submitJobs([spec({ dependsOn: [done] }), spec({ dependsOn: [done, bad] }), spec({ dependsOn: [gone] })], T0 + 5);
      const [ok, failed, cancelled] = out.map((o) => o.job);
      expect(ok).toMatchObject({ state: 'queued', reason: null });
      expect(failed).toMatchObject({ state: 'failed', inDlq: true, finishedAt: T0 + 5, reason: `dependency job ${bad} failed: exited 1; gave up after 1 attempt(s)` });
      expect(cancelled).toMatchObject({ state: 'failed', reason: `dependency job ${gone} was cancelled: not needed` });
      for (const j of out) expect(await ctx.store.getJob(j.job.id)).toEqual(j.job);
      expect((await ctx.store.listEvents(failed!.id)).map((e) => [e.from, e.to, e.reason])).toEqual([
        [null, 'queued', null],
        ['queued', 'failed', failed!.reason],
      ]);
      expect(await queuedIds(ctx.store, T0 + 5)).toEqual([ok!.id]);
    });

    it('fails the jobs waiting for a job that fails for good, transitively, in the same transaction', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store, { maxAttempts: 1 });
      const other = await submit(ctx.store);
      const b = await submit(ctx.store, { dependsOn: [a, other] });
      const c = await submit(ctx.store, { dependsOn: [b] });
      const d = await submit(ctx.store, { dependsOn: [other] });
      expect(await run(ctx.store, a, FAILED, T0 + 1)).toBe('failed');
      const bReason = `dependency job ${a} failed: exited 1; gave up after 1 attempt(s)`;
      expect(await stateOf(ctx.store, b)).toEqual({ state: 'failed', inDlq: true, reason: bReason });
      expect(await stateOf(ctx.store, c)).toEqual({ state: 'failed', inDlq: true, reason: `dependency job ${b} failed: ${bReason}` });
      expect((await ctx.store.listEvents(c)).at(-1)).toMatchObject({ from: 'queued', to: 'failed', at: T0 + 1, attempt: null });
      expect(await stateOf(ctx.store, d)).toMatchObject({ state: 'queued' });
      expect(await queuedIds(ctx.store, T0 + 1)).toEqual([other]);
      expect((await ctx.store.listJobs({ inDlq: true }, { limit: 10 })).items.map((j) => j.id)).toEqual([c, b, a]);
    });

    it('fails the jobs waiting for a cancelled job, queued or running, and a job whose dependency ends cancelled', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const queued = await submit(ctx.store);
      const running = await submit(ctx.store);
      const w1 = await submit(ctx.store, { dependsOn: [queued] });
      const w2 = await submit(ctx.store, { dependsOn: [running] });
      const w3 = await submit(ctx.store, { dependsOn: [w2] });
      const attemptId = await start(ctx.store, running, 'n1', []);

      const out = await ctx.store.cancelJobs({ ids: [queued, running] }, 'user asked', T0 + 2);
      expect(out.cancelled.map((j) => j.id)).toEqual([queued, running]);
      expect([...out.dependentsFailed].sort((x, y) => x.id - y.id)).toEqual([w1, w2, w3].map((id) => ({ id, queue: 'default' })));
      expect(await stateOf(ctx.store, w1)).toEqual({ state: 'failed', inDlq: true, reason: `dependency job ${queued} was cancelled: user asked` });
      expect(await stateOf(ctx.store, w3)).toMatchObject({ reason: `dependency job ${w2} failed: dependency job ${running} was cancelled: user asked` });
      // The running attempt's end, reported later, changes nothing more.
      expect((await end(ctx.store, attemptId, CANCELLED, T0 + 3)).jobState).toBe('cancelled');

      // A job whose attempt ends `cancelled` (the agent's report of a cancel) fails its dependents too.
      const x = await submit(ctx.store);
      const wx = await submit(ctx.store, { dependsOn: [x] });
      const wy = await submit(ctx.store, { queue: 'other', dependsOn: [wx] });
      // The end's result lists every job failed with it, with its queue (for the jobs-finished metric).
      const ended = await end(ctx.store, await start(ctx.store, x, 'n1', [], T0 + 4), CANCELLED, T0 + 4);
      expect(ended.jobState).toBe('cancelled');
      expect(ended.dependentsFailed).toEqual([{ id: wx, queue: 'default' }, { id: wy, queue: 'other' }]);
      expect(await stateOf(ctx.store, wx)).toMatchObject({ state: 'failed', reason: `dependency job ${x} was cancelled: killed on cancel` });
      expect((await ctx.store.cancelJobs({ ids: [wx] }, 'again', T0 + 5)).dependentsFailed).toEqual([]);
    });

    it('replays: a dependency does not bring back the jobs it failed; a dependent waits again, or fails again at once', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store, { maxAttempts: 1 });
      const b = await submit(ctx.store, { dependsOn: [a] });
      await run(ctx.store, a, FAILED, T0 + 1);
      expect((await ctx.store.getJob(b))?.state).toBe('failed');

      // Replaying b while a is still failed: b fails again at once, with the reason.
      const [again] = await ctx.store.replayJobs({ ids: [b] }, T0 + 2);
      expect(again).toMatchObject({ id: b, state: 'failed', inDlq: true, finishedAt: T0 + 2, reason: expect.stringContaining(`dependency job ${a} failed`) });
      expect((await ctx.store.listEvents(b)).slice(-2).map((e) => [e.from, e.to])).toEqual([['failed', 'queued'], ['queued', 'failed']]);

      // Replaying a leaves b failed.
      expect((await ctx.store.replayJobs({ ids: [a] }, T0 + 3)).map((j) => j.state)).toEqual(['queued']);
      expect((await ctx.store.getJob(b))?.state).toBe('failed');
      // Replaying b now that a is queued again: b waits for it, then runs once it succeeds.
      expect((await ctx.store.replayJobs({ ids: [b] }, T0 + 4)).map((j) => j.state)).toEqual(['queued']);
      expect(await queuedIds(ctx.store, T0 + 4)).toEqual([a]);
      await run(ctx.store, a, SUCCEEDED, T0 + 5);
      expect(await queuedIds(ctx.store, T0 + 5)).toEqual([b]);
    });

    it('replays a dependent whose dependency succeeded after it had failed', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const a = await submit(ctx.store);
      const other = await submit(ctx.store, { maxAttempts: 1 });
      const b = await submit(ctx.store, { dependsOn: [a, other] });
      await run(ctx.store, other, FAILED, T0 + 1);
      await ctx.store.replayJobs({ ids: [other] }, T0 + 2);
      await run(ctx.store, other, SUCCEEDED, T0 + 3);
      await run(ctx.store, a, SUCCEEDED, T0 + 4);
      expect((await ctx.store.getJob(b))?.state).toBe('failed');
      expect((await ctx.store.replayJobs({ ids: [b] }, T0 + 5)).map((j) => j.state)).toEqual(['queued']);
      expect(await queuedIds(ctx.store, T0 + 5)).toEqual([b]);
    });

    it('survives retention: a purged dependency that succeeded stays met; one not known to have succeeded fails a replay', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const ok = await submit(ctx.store);
      const bad = await submit(ctx.store);
      const w = await submit(ctx.store, { dependsOn: [ok, bad] });
      await run(ctx.store, ok, SUCCEEDED, T0 + 1);
      await ctx.store.cancelJobs({ ids: [bad] }, 'stop', T0 + 1);
      expect((await ctx.store.getJob(w))?.state).toBe('failed');
      // ok and bad finished and are out of the DLQ: retention takes them; w (in the DLQ) stays.
      expect(await ctx.store.purgeFinishedJobs(T0 + 10, 100)).toBe(2);
      expect(await ctx.store.listDependencies(w)).toEqual([
        { jobId: ok, state: null, met: true },
        { jobId: bad, state: null, met: false },
      ]);
      const [replayed] = await ctx.store.replayJobs({ ids: [w] }, T0 + 20);
      expect(replayed).toMatchObject({ state: 'failed', reason: expect.stringContaining(`dependency job ${bad} no longer exists`) });
      // A purged dependent takes its dependency rows with it.
      await ctx.store.purgeDlq({ ids: [w] }, T0 + 21);
      expect(await ctx.store.purgeFinishedJobs(T0 + 30, 100)).toBe(1);
      expect(await ctx.store.listDependencies(w)).toEqual([]);
    });
  });

  describe.runIf(ctx.capabilities.replicas)('job dependencies on replicas sharing one database', () => {
    it('never leaves a job waiting for a dependency that ended on another replica while it was submitted', async () => {
      const a = ctx.store;
      const b = await ctx.opened.reopen();
      await a.upsertNode(node('n1', 0));
      for (let round = 0; round < 16; round++) {
        const dep = await submit(a);
        const attemptId = await start(a, dep, 'n1', []);
        const how = round % 2 === 0 ? SUCCEEDED : { ...FAILED, retryable: false };
        // The end on one replica and the submit on the other, at once: whichever commits first, the other sees it.
        const [, [out]] = await Promise.all([
          a.endAttempts([{ attemptId, end: how, exitCode: 0, signal: null, endedAt: T0 }], decideAt(T0), T0),
          b.submitJobs([spec({ dependsOn: [dep] })], T0),
        ]);
        const id = out!.job.id;
        if (how === SUCCEEDED) {
          expect((await a.getJob(id))?.state).toBe('queued');
          expect(await queuedIds(a, T0)).toContain(id);
        } else {
          expect((await a.getJob(id))?.state).toBe('failed');
        }
      }
    });
  });
}
