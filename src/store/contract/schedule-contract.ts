import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/access.js';
import { planRun, runLayout } from '../../core/pipeline-run.js';
import { parsePipelineSpec } from '../../core/pipeline-spec.js';
import { fireJobKey, parseScheduleSpec } from '../../core/schedule-spec.js';
import type { ContractContext } from './contract-context.js';
import { spec, T0 } from './fixtures.js';

/** Schedules (schedule-store.ts): definitions, pause and resume, fires recorded once. */
export function scheduleContract(ctx: ContractContext): void {
  const audit = (action: AuditRecord['action'], target: string): AuditRecord => ({ at: T0, actor: 'ops', actorTokenId: null, role: 'operator', action, target, outcome: 'ok', detail: null });
  const schedule = (name: string) => parseScheduleSpec({ name, cron: '*/5 * * * *', target: { pipeline: 'nightly' } });

  describe('schedules', () => {
    it('creates, lists, pauses and resumes (audited; resuming skips the paused time), refuses a second of a name, deletes', async () => {
      const created = await ctx.store.createSchedule(schedule('b'), T0, (s) => audit('schedules.create', s.name));
      expect(created).toEqual({ name: 'b', spec: schedule('b'), paused: false, lastFireAt: null, createdAt: T0 });
      await ctx.store.createSchedule(schedule('a'), T0);
      await expect(ctx.store.createSchedule(schedule('b'), T0)).rejects.toMatchObject({ code: 'SCHEDULE_EXISTS' });
      expect((await ctx.store.setSchedulesPaused(['b'], true, T0 + 1, (ss) => audit('schedules.pause', ss.map((s) => s.name).join(' ')))).map((s) => s.name)).toEqual(['b']);
      expect(await ctx.store.setSchedulesPaused(['b'], true, T0 + 1)).toEqual([]);
      expect((await ctx.store.setSchedulesPaused('all', true, T0 + 2)).map((s) => s.name)).toEqual(['a']);
      expect((await ctx.store.listSchedules()).map((s) => [s.name, s.paused, s.lastFireAt])).toEqual([
        ['a', true, null],
        ['b', true, null],
      ]);
      expect((await ctx.store.setSchedulesPaused(['a'], false, T0 + 9)).map((s) => [s.name, s.lastFireAt])).toEqual([['a', T0 + 9]]);
      expect((await ctx.store.setSchedulesPaused('all', false, T0 + 10)).map((s) => [s.name, s.lastFireAt])).toEqual([['b', T0 + 10]]);
      expect(await ctx.store.deleteSchedule('a')).toBe(true);
      expect(await ctx.store.deleteSchedule('a')).toBe(false);
      expect(await ctx.store.getSchedule('a')).toBeNull();
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.action)).toEqual(['schedules.pause', 'schedules.create']);
    });

    it('records a job fire once (its job deduped by key) and advances lastFireAt, never back', async () => {
      await ctx.store.createSchedule(schedule('j'), T0);
      const fireAt = T0 + 60_000;
      const submit = () => ctx.store.submitJobs([spec({ idempotencyKey: fireJobKey('j', fireAt) })], T0 + 61_000);
      const [first] = await submit();
      const [again] = await submit();
      expect(again!.job.id).toBe(first!.job.id);
      await ctx.store.recordScheduleFire('j', { fireAt, jobId: first!.job.id, runId: null }, fireAt + 60_000);
      await ctx.store.recordScheduleFire('j', { fireAt, jobId: 999, runId: null }, fireAt);
      // Times passed over (missed: 'skip') advance it without a row.
      await ctx.store.recordScheduleFire('j', null, fireAt + 120_000);
      expect(await ctx.store.listScheduleFires('j', 10)).toEqual([{ schedule: 'j', fireAt, jobId: first!.job.id, runId: null }]);
      expect((await ctx.store.getSchedule('j'))!.lastFireAt).toBe(fireAt + 120_000);
    });

    it("gives a fire exactly one pipeline run, in the run's transaction", async () => {
      await ctx.store.createPipeline(parsePipelineSpec({ name: 'nightly', outputDir: '/out', steps: [{ name: 'one', job: { type: 'noop' } }] }), T0);
      await ctx.store.createSchedule(schedule('p'), T0);
      const plan = (runId: number, s: ReturnType<typeof parsePipelineSpec>) => planRun(s, runId, runLayout('/r'), []);
      const fire = { schedule: 'p', at: T0 + 300_000 };
      const run = await ctx.store.createPipelineRun({ pipeline: 'nightly', runDir: '/r', inputs: [], fire }, plan, T0 + 300_001, null);
      expect(await ctx.store.listScheduleFires('p', 10)).toEqual([{ schedule: 'p', fireAt: fire.at, jobId: null, runId: run!.id }]);
      const runsBefore = (await ctx.store.listPipelineRuns({ limit: 10 })).length;
      await expect(ctx.store.createPipelineRun({ pipeline: 'nightly', runDir: '/r2', inputs: [], fire }, plan, T0 + 300_002, null)).rejects.toMatchObject({ code: 'FIRE_TAKEN' });
      expect(await ctx.store.listPipelineRuns({ limit: 10 })).toHaveLength(runsBefore);
      // Recording it afterwards keeps the run's row and advances the schedule.
      await ctx.store.recordScheduleFire('p', { fireAt: fire.at, jobId: null, runId: run!.id }, fire.at);
      expect((await ctx.store.listScheduleFires('p', 10)).map((f) => f.runId)).toEqual([run!.id]);
      expect((await ctx.store.getSchedule('p'))!.lastFireAt).toBe(fire.at);
    });
  });
}
