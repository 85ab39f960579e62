import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/access.js';
import { planRun, runLayout } from '../../core/pipeline-run.js';
import { parsePipelineSpec } from '../../core/pipeline-spec.js';
import { parseTriggerSpec } from '../../core/trigger-spec.js';
import type { ContractContext } from './contract-context.js';
import { T0 } from './fixtures.js';

/** Directory triggers (trigger-store.ts): definitions, pause and resume, claims and the one run each gets. */
export function triggerContract(ctx: ContractContext): void {
  const audit = (action: AuditRecord['action'], target: string): AuditRecord => ({ at: T0, actor: 'ops', actorTokenId: null, role: 'operator', action, target, outcome: 'ok', detail: null });
  const trigger = (name: string) => parseTriggerSpec({ name, pipeline: 'etl', directory: `/in/${name}` });

  describe('directory triggers', () => {
    it('creates, lists, pauses and resumes (audited), refuses a second of a name, deletes', async () => {
      const created = await ctx.store.createTrigger(trigger('b'), T0, (t) => audit('triggers.create', t.name));
      expect(created).toEqual({ name: 'b', spec: trigger('b'), paused: false, createdAt: T0 });
      await ctx.store.createTrigger(trigger('a'), T0);
      await expect(ctx.store.createTrigger(trigger('b'), T0)).rejects.toMatchObject({ code: 'TRIGGER_EXISTS' });
      expect((await ctx.store.setTriggersPaused(['b'], true, (ts) => audit('triggers.pause', ts.map((t) => t.name).join(' ')))).map((t) => t.name)).toEqual(['b']);
      expect(await ctx.store.setTriggersPaused(['b'], true)).toEqual([]);
      expect((await ctx.store.setTriggersPaused('all', true)).map((t) => t.name)).toEqual(['a']);
      expect((await ctx.store.listTriggers()).map((t) => [t.name, t.paused])).toEqual([
        ['a', true],
        ['b', true],
      ]);
      expect((await ctx.store.setTriggersPaused('all', false)).map((t) => t.name).sort()).toEqual(['a', 'b']);
      expect(await ctx.store.deleteTrigger('a')).toBe(true);
      expect(await ctx.store.getTrigger('a')).toBeNull();
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.action)).toEqual(['triggers.pause', 'triggers.create']);
    });

    it('gives a claim exactly one run, in the run\'s transaction; settles it once', async () => {
      await ctx.store.createPipeline(parsePipelineSpec({ name: 'etl', outputDir: '/out', steps: [{ name: 'one', fanOut: true, job: { type: 'noop' } }] }), T0);
      await ctx.store.createTrigger(trigger('t'), T0);
      const [claim, other] = await ctx.store.claimTriggerFiles('t', ['a.csv', 'b.csv'], T0 + 1);
      expect(other).toBeGreaterThan(claim!);
      expect(await ctx.store.openTriggerClaims('t')).toEqual([
        { id: claim, trigger: 't', file: 'a.csv', claimedAt: T0 + 1, runId: null, runState: null, runReason: null },
        { id: other, trigger: 't', file: 'b.csv', claimedAt: T0 + 1, runId: null, runState: null, runReason: null },
      ]);
      await ctx.store.settleTriggerClaim(other!, 'lost', T0 + 1);
      const plan = (runId: number, s: ReturnType<typeof parsePipelineSpec>) => planRun(s, runId, runLayout('/r'), ['a.csv']);
      const run = await ctx.store.createPipelineRun({ pipeline: 'etl', runDir: '/r', inputs: ['a.csv'], claim: claim! }, plan, T0 + 2, null);
      expect((await ctx.store.openTriggerClaims('t'))[0]).toMatchObject({ runId: run!.id, runState: 'running' });
      // A second run for the same claim stores nothing.
      const runsBefore = (await ctx.store.listPipelineRuns({ limit: 10 })).length;
      await expect(ctx.store.createPipelineRun({ pipeline: 'etl', runDir: '/r2', inputs: ['a.csv'], claim: claim! }, plan, T0 + 3, null)).rejects.toMatchObject({ code: 'CLAIM_TAKEN' });
      expect(await ctx.store.listPipelineRuns({ limit: 10 })).toHaveLength(runsBefore);
      await ctx.store.settleTriggerClaim(claim!, 'done', T0 + 4);
      await ctx.store.settleTriggerClaim(claim!, 'failed', T0 + 5);
      expect(await ctx.store.openTriggerClaims('t')).toEqual([]);
    });
  });
}
