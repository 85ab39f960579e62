import { describe, expect, it } from 'vitest';
import type { ContractContext } from './contract-context.js';
import { T0 } from './fixtures.js';

/** Broker intake's durable state (store/intake-store.ts, migration 0016): pauses, the emergency stop, sink cursors. */
export function intakeContract(ctx: ContractContext): void {
  describe('broker intake', () => {
    it('pauses and resumes sources one by one and all at once, with the audit record in the same write', async () => {
      expect(await ctx.store.getIntakePauses()).toEqual({ all: false, sources: [] });
      expect(await ctx.store.setIntakePaused(['orders', 'batch'], true, T0)).toEqual({ all: false, sources: ['batch', 'orders'] });
      // Pausing twice changes nothing.
      expect(await ctx.store.setIntakePaused(['orders'], true, T0 + 1)).toEqual({ all: false, sources: ['batch', 'orders'] });
      const stopped = await ctx.store.setIntakePaused('all', true, T0 + 2, (p) => ({ at: T0 + 2, actor: 'ops', actorTokenId: null, role: 'operator', action: 'intake.pause', target: 'all sources', outcome: 'ok', detail: JSON.stringify(p) }));
      expect(stopped).toEqual({ all: true, sources: ['batch', 'orders'] });
      const audit = await ctx.store.listAudit({}, { limit: 10 });
      expect(audit.items.map((a) => [a.action, a.target, a.detail])).toEqual([['intake.pause', 'all sources', JSON.stringify(stopped)]]);
      expect(await ctx.store.setIntakePaused(['orders'], false, T0 + 3)).toEqual({ all: true, sources: ['batch'] });
      // Resuming all clears the emergency stop and every source's own pause.
      expect(await ctx.store.setIntakePaused('all', false, T0 + 4)).toEqual({ all: false, sources: [] });
      expect(await ctx.store.getIntakePauses()).toEqual({ all: false, sources: [] });
    });

    it('keeps each sink cursor, and never moves it back', async () => {
      expect(await ctx.store.getSinkCursors()).toEqual({});
      await ctx.store.advanceSinkCursor('done', 10, T0);
      await ctx.store.advanceSinkCursor('other', 3, T0);
      await ctx.store.advanceSinkCursor('done', 25, T0 + 1);
      await ctx.store.advanceSinkCursor('done', 7, T0 + 2);
      expect(await ctx.store.getSinkCursors()).toEqual({ done: 25, other: 3 });
    });
  });
}
