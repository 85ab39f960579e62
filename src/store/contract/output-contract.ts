import { describe, expect, it } from 'vitest';
import type { AttemptOutput } from '../../core/job-output.js';
import type { ContractContext } from './contract-context.js';
import { decideAt, FAILED, node, start, submit, SUCCEEDED, T0 } from './fixtures.js';

/** Attempt outputs (results and artifact lists, core/job-output.ts), recorded with the attempt's end. */
export function outputContract(ctx: ContractContext): void {
  describe('attempt outputs', () => {
    const output = (result: string | null, names: string[] = [], note: string | null = null): AttemptOutput => ({ result, note, artifacts: names.map((name, i) => ({ name, bytes: i * 10 })) });

    it('records an output with the end that carries it, keeps the result text exactly, and reads the latest or a given attempt', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store, { backoff: { initialSeconds: 0.001, maxSeconds: 0.001 } });
      expect(await ctx.store.getJobOutput(id)).toBeNull();

      const first = await start(ctx.store, id, 'n1', [], T0);
      const exact = '{"b": 1.50, "a": [1e2, 12345678901234567890], "s": "\\u0000é"}';
      const [r1] = await ctx.store.endAttempts([{ attemptId: first, end: FAILED, exitCode: 1, signal: null, endedAt: T0 + 1, output: output(exact, ['result.json', 'logs/x.txt'], 'a note') }], decideAt(T0 + 1), T0 + 1);
      expect(r1).toMatchObject({ accepted: true, jobState: 'queued' });
      expect(await ctx.store.getJobOutput(id)).toEqual({ jobId: id, attempt: 1, attemptId: first, nodeId: 'n1', state: 'failed', ...output(exact, ['result.json', 'logs/x.txt'], 'a note') });

      const second = await start(ctx.store, id, 'n1', [], T0 + 10);
      await ctx.store.endAttempts([{ attemptId: second, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 11, output: output(null) }], decideAt(T0 + 11), T0 + 11);
      expect(await ctx.store.getJobOutput(id)).toEqual({ jobId: id, attempt: 2, attemptId: second, nodeId: 'n1', state: 'succeeded', result: null, note: null, artifacts: [] });
      expect((await ctx.store.getJobOutput(id, 1))?.result).toBe(exact);
      expect(await ctx.store.getJobOutput(id, 3)).toBeNull();
    });

    it('records nothing for a refused report, or an end without output', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store);
      const attemptId = await start(ctx.store, id, 'n1', []);
      await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 1 }], decideAt(T0 + 1), T0 + 1);
      expect(await ctx.store.getJobOutput(id)).toBeNull();
      // A late repeat of the end, now with an output, is refused as a whole.
      const [late] = await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0 + 2, output: output('1') }], decideAt(T0 + 2), T0 + 2);
      expect(late?.accepted).toBe(false);
      expect(await ctx.store.getJobOutput(id)).toBeNull();
    });

    it('is purged by retention with its job', async () => {
      await ctx.store.upsertNode(node('n1', 0));
      const id = await submit(ctx.store);
      const attemptId = await start(ctx.store, id, 'n1', []);
      await ctx.store.endAttempts([{ attemptId, end: SUCCEEDED, exitCode: 0, signal: null, endedAt: T0, output: output('{"x": 1}', ['result.json']) }], decideAt(T0), T0);
      expect(await ctx.store.purgeFinishedJobs(T0 + 1, 10)).toBe(1);
      expect(await ctx.store.getJobOutput(id)).toBeNull();
    });
  });
}
