import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { startGpuq, type GpuqProcess } from './helpers/gpuq-process.js';

let gpuq: GpuqProcess;
beforeAll(async () => {
  gpuq = await startGpuq();
});
afterAll(async () => {
  await gpuq.stop();
});

const fast = { initialSeconds: 0.05, maxSeconds: 0.2, multiplier: 2 };

async function finish(id: number) {
  const { jobs, timedOut } = await waitForJobs(gpuq.client, [id], Date.now() + 30_000);
  expect(timedOut).toBe(false);
  return jobs[0]!;
}

describe('retries and the dead-letter queue', () => {
  it('retries a job that fails twice and succeeds on its third attempt', async () => {
    const { job } = await gpuq.client.submit({ name: 'flaky', shell: 'echo "attempt $GPUQ_ATTEMPT"; [ "$GPUQ_ATTEMPT" -ge 3 ] || exit 7', backoff: fast });
    const final = await finish(job.id);
    expect(final.state).toBe('succeeded');
    expect(final.attempts).toBe(3);
    const { attempts, events } = await gpuq.client.get(job.id);
    expect(attempts.map((a) => [a.number, a.state, a.exitCode])).toEqual([[1, 'failed', 7], [2, 'failed', 7], [3, 'succeeded', 0]]);
    // Every transition is recorded, with its reason; the retries waited for their backoff.
    expect(events.map((e) => e.to)).toEqual(['queued', 'assigned', 'running', 'queued', 'assigned', 'running', 'queued', 'assigned', 'running', 'succeeded']);
    expect(events[3]!.reason).toContain('exited with code 7');
    expect(attempts[1]!.assignedAt - attempts[0]!.endedAt!).toBeGreaterThanOrEqual(25);
    expect(await gpuq.client.logs(job.id, { attempt: 2 })).toBe('attempt 2\n');
    expect(final.inDlq).toBe(false);
  });

  it('fails a job that always fails after maxAttempts, lists it in the DLQ, and replays it', async () => {
    const { job } = await gpuq.client.submit({ name: 'doomed', shell: 'echo "try $GPUQ_ATTEMPT" >&2; exit 1', maxAttempts: 3, backoff: fast });
    const final = await finish(job.id);
    expect(final.state).toBe('failed');
    expect(final.attempts).toBe(3);
    expect(final.inDlq).toBe(true);
    expect(final.reason).toContain('gave up after 3');
    const dlq = await gpuq.client.dlq();
    expect(dlq.jobs.map((j) => j.id)).toContain(job.id);

    const replay = await gpuq.client.replay({ ids: [job.id] });
    expect(replay).toEqual({ replayed: 1, ids: [job.id], failedAgain: [] });
    expect((await gpuq.client.dlq()).jobs.map((j) => j.id)).not.toContain(job.id);
    const again = await finish(job.id);
    // It ran again with a fresh budget of maxAttempts: attempts 4-6, then back to the DLQ.
    expect(again.state).toBe('failed');
    expect(again.attempts).toBe(6);
    expect(again.inDlq).toBe(true);
    const { events } = await gpuq.client.get(job.id);
    expect(events.some((e) => e.from === 'failed' && e.to === 'queued' && e.reason === 'replayed from DLQ')).toBe(true);
    expect(await gpuq.client.logs(job.id, { attempt: 5 })).toBe('try 5\n');
  });

  it('does not retry a program that does not exist', async () => {
    const { job } = await gpuq.client.submit({ name: 'typo', command: ['/no/such/program'], backoff: fast });
    const final = await finish(job.id);
    expect(final.state).toBe('failed');
    expect(final.attempts).toBe(1);
    expect(final.inDlq).toBe(true);
    expect(final.reason).toMatch(/ENOENT/);
  });

  it('replays only jobs that are in the DLQ', async () => {
    const { job } = await gpuq.client.submit({ type: 'noop' });
    await finish(job.id);
    expect(await gpuq.client.replay({ ids: [job.id] })).toEqual({ replayed: 0, ids: [], failedAgain: [] });
  });
});
