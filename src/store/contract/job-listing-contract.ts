import { describe, expect, it } from 'vitest';
import type { JobOwner } from '../../core/access.js';
import { JOB_SORTS, jobOrder, type JobSort } from '../../core/job-sort.js';
import type { Job } from '../../core/types.js';
import type { JobFilter, Store } from '../store.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, FAILED, node, spec, SUCCEEDED, T0 } from './fixtures.js';

/**
 * listJobs' orders (core/job-sort.ts), name search and owner filters, and cursor paging in every
 * order. Expected orders are a sort of every job, read back one by one, by (key, id).
 */

const ALICE: JobOwner = { tokenId: 'tok_aaaaaaaaaaaaaaaa', name: 'alice' };
const BOB: JobOwner = { tokenId: 'tok_bbbbbbbbbbbbbbbb', name: 'bob' };

const keyOf = (sort: JobSort, j: Job): number => {
  const { key } = jobOrder(sort);
  return key === 'id' ? j.id : key === 'priority' ? j.priority : key === 'created' ? j.createdAt : j.updatedAt;
};

function expectedOrder(jobs: Job[], sort: JobSort): number[] {
  const sign = jobOrder(sort).descending ? -1 : 1;
  return [...jobs].sort((a, b) => sign * (keyOf(sort, a) - keyOf(sort, b) || a.id - b.id)).map((j) => j.id);
}

async function pageAll(store: Store, filter: JobFilter, sort: JobSort, limit: number): Promise<number[]> {
  const seen: number[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.listJobs(filter, cursor === undefined ? { limit } : { limit, cursor }, sort);
    expect(page.items.length).toBeLessThanOrEqual(limit);
    seen.push(...page.items.map((j) => j.id));
    if (page.nextCursor === null) return seen;
    cursor = page.nextCursor;
  }
  throw new Error('more than 100 pages');
}

/**
 * Jobs with ties on every key: priorities repeat, several share a creation time, and some were
 * updated (placed, ended, cancelled) at times out of their id order.
 */
async function seed(store: Store): Promise<Job[]> {
  await store.upsertNode(node('n1', 0));
  const names = ['Train-ResNet', 'train-bert', 'eval', '100_done', 'TRAIN-gpt', 'sweep_1', 'sweep-2', 'infer'];
  const ids: number[] = [];
  for (let i = 0; i < 16; i++) {
    const owner = i % 3 === 0 ? ALICE : i % 3 === 1 ? BOB : null;
    const [out] = await store.submitJobs([spec({ name: names[i % names.length]!, priority: [0, 5, -3, 5][i % 4]!, queue: i % 2 === 0 ? 'even' : 'odd', maxAttempts: 1 })], T0 + Math.floor(i / 3) * 1000, owner);
    ids.push(out!.job.id);
  }
  // Updates out of id order: later jobs first.
  const [p1, p2] = await store.applyPlan([{ jobId: ids[14]!, nodeId: 'n1', devices: [] }, { jobId: ids[3]!, nodeId: 'n1', devices: [] }], T0 + 20_000, 30_000);
  await store.endAttempts([{ attemptId: p1!.attemptId, startedAt: T0 + 20_000, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 21_000 }], decideAt(T0 + 21_000), T0 + 21_000);
  await store.endAttempts([{ attemptId: p2!.attemptId, startedAt: T0 + 20_000, end: FAILED, exitCode: 1, signal: null, endedAt: T0 + 22_000 }], decideAt(T0 + 22_000), T0 + 22_000);
  await store.cancelJobs({ ids: [ids[9]!, ids[1]!] }, 'test', T0 + 21_500);
  return Promise.all(ids.map(async (id) => (await store.getJob(id))!));
}

export function jobListingContract(ctx: ContractContext): void {
  describe('listJobs orders, search and paging', () => {
    it('lists in every order, ties broken by id, and pages through each without duplicates or gaps', async () => {
      const jobs = await seed(ctx.store);
      for (const sort of JOB_SORTS) {
        const expected = expectedOrder(jobs, sort);
        expect((await ctx.store.listJobs({}, { limit: 100 }, sort)).items.map((j) => j.id), sort).toEqual(expected);
        expect(await pageAll(ctx.store, {}, sort, 3), sort).toEqual(expected);
      }
      // The default is newest first.
      expect((await ctx.store.listJobs({}, { limit: 100 })).items.map((j) => j.id)).toEqual(expectedOrder(jobs, '-id'));
    });

    it('pages in every order with filters on state, queue, name and owner', async () => {
      const jobs = await seed(ctx.store);
      const filters: [JobFilter, (j: Job) => boolean][] = [
        [{ states: ['queued', 'cancelled'] }, (j) => j.state === 'queued' || j.state === 'cancelled'],
        [{ queue: 'even' }, (j) => j.queue === 'even'],
        [{ queue: 'odd', states: ['queued'] }, (j) => j.queue === 'odd' && j.state === 'queued'],
        [{ nameContains: 'train' }, (j) => j.name.toLowerCase().includes('train')],
        [{ ownerName: 'alice', nameContains: 'N' }, (j) => j.owner === 'alice' && j.name.toLowerCase().includes('n')],
        [{ ownerTokenId: BOB.tokenId, inDlq: false }, (j) => j.ownerTokenId === BOB.tokenId && !j.inDlq],
      ];
      for (const [filter, keep] of filters) {
        const matching = jobs.filter(keep);
        expect(matching.length, JSON.stringify(filter)).toBeGreaterThan(1);
        for (const sort of JOB_SORTS) expect(await pageAll(ctx.store, filter, sort, 2), `${sort} ${JSON.stringify(filter)}`).toEqual(expectedOrder(matching, sort));
      }
    });

    it('searches names for a substring, ASCII letters in either case, the LIKE wildcard taken literally', async () => {
      const jobs = await seed(ctx.store);
      const names = async (nameContains: string) => [...new Set((await ctx.store.listJobs({ nameContains }, { limit: 100 })).items.map((j) => j.name))].sort();
      expect(await names('TRAIN')).toEqual(['TRAIN-gpt', 'Train-ResNet', 'train-bert']);
      expect(await names('resnet')).toEqual(['Train-ResNet']);
      // `_` is a wildcard of LIKE: here it is only itself.
      expect(await names('_')).toEqual(['100_done', 'sweep_1']);
      expect(await names('p-')).toEqual(['sweep-2']);
      expect(await names('nothing like it')).toEqual([]);
      expect((await ctx.store.listJobs({ nameContains: 'EVAL' }, { limit: 100 })).items.map((j) => j.id)).toEqual(expectedOrder(jobs.filter((j) => j.name === 'eval'), '-id'));
    });

    it('filters by the owner token name the job was submitted with', async () => {
      const jobs = await seed(ctx.store);
      expect((await ctx.store.listJobs({ ownerName: 'bob' }, { limit: 100 })).items.map((j) => j.id)).toEqual(expectedOrder(jobs.filter((j) => j.owner === 'bob'), '-id'));
      expect((await ctx.store.listJobs({ ownerName: 'carol' }, { limit: 100 })).items).toEqual([]);
    });

    it('refuses a cursor made for another order, or made up, naming the cursor', async () => {
      await seed(ctx.store);
      const byPriority = await ctx.store.listJobs({}, { limit: 2 }, '-priority');
      const newest = await ctx.store.listJobs({}, { limit: 2 });
      await expect(ctx.store.listJobs({}, { limit: 2, cursor: byPriority.nextCursor! }, 'priority')).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        issues: [{ path: 'cursor', message: expect.stringContaining('sort=-priority') }],
      });
      await expect(ctx.store.listJobs({}, { limit: 2, cursor: byPriority.nextCursor! })).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'cursor' }] });
      await expect(ctx.store.listJobs({}, { limit: 2, cursor: newest.nextCursor! }, 'created')).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        issues: [{ path: 'cursor', message: expect.stringContaining('sort=-id') }],
      });
      for (const [forged, sort] of [['jcreated:not-a-number:5', 'created'], ['jpriority:1.5:5', 'priority'], ['jpriority:1e300:5', '-priority'], ['jupdated:5', 'updated'], ['jid:3:5', 'id']] as const) {
        const cursor = Buffer.from(forged.replace('jpriority:1e300', 'j-priority:1e300')).toString('base64url');
        await expect(ctx.store.listJobs({}, { limit: 2, cursor }, sort), forged).rejects.toMatchObject({ code: 'VALIDATION_FAILED', issues: [{ path: 'cursor' }] });
      }
      // The newest-first cursor keeps its old form, so a client paging across an upgrade goes on where it was.
      expect(Buffer.from(newest.nextCursor!, 'base64url').toString()).toMatch(/^j\d+$/);
    });
  });
}
