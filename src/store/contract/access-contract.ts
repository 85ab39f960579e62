import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../core/access.js';
import type { NewToken } from '../access-store.js';
import type { ContractContext } from './contract-context.js';
import { spec, submit, T0 } from './fixtures.js';

/** API tokens, the audit log and job ownership (the AccessStore half of the Store). */
export function accessContract(ctx: ContractContext): void {
  const token = (id: string, name: string, over: Partial<NewToken> = {}): NewToken => ({ id, name, role: 'submitter', hash: `hash-${id}`, createdAt: T0, ...over });
  const record = (over: Partial<AuditRecord> = {}): AuditRecord => ({
    at: T0,
    actor: 'root',
    actorTokenId: 'tok_root',
    role: 'admin',
    action: 'tokens.create',
    target: 'token x',
    outcome: 'ok',
    detail: null,
    ...over,
  });

  describe('tokens', () => {
    it('creates a token with its audit record, finds it by hash, and never lists the hash', async () => {
      const created = await ctx.store.createToken(token('tok_a', 'ci', { role: 'viewer' }), record({ target: 'token ci (tok_a)' }));
      expect(created).toEqual({ id: 'tok_a', name: 'ci', role: 'viewer', createdAt: T0, revokedAt: null, lastUsedAt: null });
      expect(await ctx.store.findTokenByHash('hash-tok_a')).toEqual(created);
      expect(await ctx.store.findTokenByHash('hash-unknown')).toBeNull();
      const listed = await ctx.store.listTokens();
      expect(listed).toEqual([created]);
      expect(JSON.stringify(listed)).not.toContain('hash-tok_a');
      const audit = await ctx.store.listAudit({}, { limit: 10 });
      expect(audit.items).toEqual([{ id: expect.any(Number), ...record({ target: 'token ci (tok_a)' }) }]);
    });

    it('refuses a second live token with the same name, and writes neither it nor its audit record', async () => {
      await ctx.store.createToken(token('tok_a', 'ci'), record());
      await expect(ctx.store.createToken(token('tok_b', 'ci'), record({ target: 'second' }))).rejects.toMatchObject({ code: 'TOKEN_NAME_TAKEN', tokenName: 'ci' });
      expect((await ctx.store.listTokens({ includeRevoked: true })).map((t) => t.id)).toEqual(['tok_a']);
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.target)).toEqual(['token x']);
    });

    it('revokes a token once (its first revocation time stays), records each call, and frees its name', async () => {
      await ctx.store.createToken(token('tok_a', 'ci'), record());
      const calls: boolean[] = [];
      const audit = (t: { id: string }, changed: boolean) => {
        calls.push(changed);
        return record({ action: 'tokens.revoke', target: `token ${t.id}`, detail: changed ? 'revoked' : 'already revoked' });
      };
      const revoked = await ctx.store.revokeToken('tok_a', T0 + 5, audit);
      expect(revoked).toMatchObject({ id: 'tok_a', revokedAt: T0 + 5 });
      expect(await ctx.store.revokeToken('tok_a', T0 + 9, audit)).toMatchObject({ id: 'tok_a', revokedAt: T0 + 5 });
      expect(calls).toEqual([true, false]);
      expect(await ctx.store.revokeToken('tok_missing', T0, audit)).toBeNull();
      expect(calls).toEqual([true, false]);
      // A revoked token is still found by its hash (the caller refuses it), but not listed as live.
      expect(await ctx.store.findTokenByHash('hash-tok_a')).toMatchObject({ revokedAt: T0 + 5 });
      expect(await ctx.store.listTokens()).toEqual([]);
      const again = await ctx.store.createToken(token('tok_b', 'ci', { createdAt: T0 + 10 }), record());
      expect((await ctx.store.listTokens()).map((t) => t.id)).toEqual([again.id]);
      expect((await ctx.store.listTokens({ includeRevoked: true })).map((t) => t.id)).toEqual(['tok_a', 'tok_b']);
      const details = (await ctx.store.listAudit({ action: 'tokens.revoke' }, { limit: 10 })).items.map((e) => e.detail);
      expect(details).toEqual(['already revoked', 'revoked']);
    });

    it('records when a token was last used', async () => {
      await ctx.store.createToken(token('tok_a', 'ci'), record());
      await ctx.store.touchToken('tok_a', T0 + 60_000.5);
      expect(await ctx.store.findTokenByHash('hash-tok_a')).toMatchObject({ lastUsedAt: T0 + 60_000.5 });
    });

    it('keeps tokens across a restart', async () => {
      await ctx.store.createToken(token('tok_a', 'ci', { role: 'agent' }), record());
      await ctx.store.close();
      const reopened = await ctx.opened.reopen();
      expect(await reopened.findTokenByHash('hash-tok_a')).toMatchObject({ id: 'tok_a', role: 'agent' });
    });
  });

  describe('audit log', () => {
    it('appends entries and pages through them newest first, filtered by action', async () => {
      const actions = ['control.maintenance', 'dlq.replay', 'control.maintenance', 'queue.cancel', 'control.maintenance'] as const;
      const appended = [];
      for (let i = 0; i < 25; i++) {
        appended.push(await ctx.store.appendAudit(record({ at: T0 + i, action: actions[i % actions.length]!, target: `t${i}`, outcome: i % 3 === 0 ? 'denied' : 'ok', actor: 'local', actorTokenId: null, role: null })));
      }
      expect(appended[0]).toEqual({ id: expect.any(Number), ...record({ at: T0, action: 'control.maintenance', target: 't0', outcome: 'denied', actor: 'local', actorTokenId: null, role: null }) });
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await ctx.store.listAudit({}, { limit: 7, cursor });
        expect(page.items.length).toBeLessThanOrEqual(7);
        seen.push(...page.items.map((e) => e.target));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(appended.map((e) => e.target).reverse());
      const maintenance = await ctx.store.listAudit({ action: 'control.maintenance' }, { limit: 100 });
      expect(maintenance.items.map((e) => e.target)).toEqual(appended.filter((e) => e.action === 'control.maintenance').map((e) => e.target).reverse());
      expect(maintenance.nextCursor).toBeNull();
      await expect(ctx.store.listAudit({}, { limit: 5, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });

    it('an operator action and its record commit together: both, or (when the record cannot be written) neither', async () => {
      const id = await submit(ctx.store, { queue: 'q' });
      const audit = (o: { cancelled: { id: number }[] }) => record({ at: T0 + 1, action: 'queue.cancel', target: 'queue q', outcome: 'ok', detail: `cancelled ${o.cancelled.length}`, actor: 'local', actorTokenId: null, role: null });
      await expect(ctx.store.cancelJobs({ queue: 'q' }, 'stop', T0 + 1, () => { throw new Error('audit log unavailable'); })).rejects.toThrow(/audit log unavailable/);
      expect((await ctx.store.getJob(id))?.state).toBe('queued');
      expect((await ctx.store.listAudit({}, { limit: 10 })).items).toEqual([]);
      await ctx.store.cancelJobs({ queue: 'q' }, 'stop', T0 + 1, audit);
      expect((await ctx.store.getJob(id))?.state).toBe('cancelled');
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => [e.action, e.detail])).toEqual([['queue.cancel', 'cancelled 1']]);
      // Without a record asked for, nothing is written.
      await ctx.store.purgeDlq({ all: true }, T0 + 2);
      await ctx.store.setMaintenanceMode('drain', T0 + 3, () => record({ at: T0 + 3, action: 'control.maintenance', target: 'drain', outcome: 'ok', detail: null, actor: 'local', actorTokenId: null, role: null }));
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.action)).toEqual(['control.maintenance', 'queue.cancel']);
    });

    it('retention deletes the entries recorded before the cutoff, and only those', async () => {
      for (let i = 0; i < 6; i++) await ctx.store.appendAudit(record({ at: T0 + i, action: 'dlq.replay', target: `t${i}`, outcome: 'ok', actor: 'local', actorTokenId: null, role: null }));
      expect(await ctx.store.purgeAudit(T0 + 4)).toBe(4);
      expect((await ctx.store.listAudit({}, { limit: 10 })).items.map((e) => e.target)).toEqual(['t5', 't4']);
      expect(await ctx.store.purgeAudit(T0 + 4)).toBe(0);
    });
  });

  describe('job ownership', () => {
    it('stores the owner of submitted jobs, and lists a token\'s jobs', async () => {
      const [mine] = await ctx.store.submitJobs([spec({ name: 'mine' })], T0, { tokenId: 'tok_a', name: 'alice' });
      const [theirs] = await ctx.store.submitJobs([spec({ name: 'theirs' })], T0, { tokenId: 'tok_b', name: 'bob' });
      const [nobody] = await ctx.store.submitJobs([spec({ name: 'local' })], T0);
      expect(mine!.job).toMatchObject({ owner: 'alice', ownerTokenId: 'tok_a' });
      expect(nobody!.job).toMatchObject({ owner: null, ownerTokenId: null });
      expect(await ctx.store.getJob(mine!.job.id)).toEqual(mine!.job);
      expect(await ctx.store.getJob(nobody!.job.id)).toEqual(nobody!.job);
      expect((await ctx.store.listJobs({ ownerTokenId: 'tok_b' }, { limit: 10 })).items.map((j) => j.id)).toEqual([theirs!.job.id]);
      expect((await ctx.store.listJobs({ ownerTokenId: 'tok_a', states: ['queued', 'running'] }, { limit: 10 })).items.map((j) => j.id)).toEqual([mine!.job.id]);
      expect((await ctx.store.listJobs({ ownerTokenId: 'tok_a', queue: 'default' }, { limit: 10 })).items.map((j) => j.id)).toEqual([mine!.job.id]);
      const cancelled = await ctx.store.cancelJobs({ ids: [theirs!.job.id] }, 'stop', T0 + 1);
      expect(cancelled.cancelled[0]).toMatchObject({ owner: 'bob', ownerTokenId: 'tok_b', state: 'cancelled' });
    });
  });
}
