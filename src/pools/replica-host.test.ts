import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { QueueLink } from '../../test/fixtures/pools/queue-link.js';
import { HOST_EXIT } from './protocol.js';
import { ReplicaHost, type ReplicaHostOptions } from './replica-host.js';

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test/fixtures/pools/model-worker.mjs');
const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-replica-host-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Started {
  host: ReplicaHost;
  link: QueueLink;
  exit: Promise<number>;
  logs: string[];
  stderr: () => string;
}
const live = new Set<Started>();

function start(opts: Partial<ReplicaHostOptions> & { env?: Record<string, string> } = {}): Started {
  const link = new QueueLink();
  const logs: string[] = [];
  let err = '';
  const workerStderr = new Writable({
    write(chunk: Buffer, _enc, cb) {
      err += chunk.toString();
      cb();
    },
  });
  const { env, ...rest } = opts;
  const host = new ReplicaHost({
    pool: 'test',
    worker: { argv: [process.execPath, WORKER], env: { PATH: process.env.PATH ?? '', ...env } },
    concurrency: 1,
    taskTimeoutMs: 30_000,
    startTimeoutMs: 30_000,
    graceMs: 2_000,
    killOnOom: true,
    link,
    clock: systemClock,
    log: (l) => logs.push(l),
    workerStderr,
    ...rest,
  });
  const s: Started = { host, link, exit: host.run(), logs, stderr: () => err };
  live.add(s);
  void s.exit.then(() => live.delete(s));
  return s;
}

// A test that failed half-way must not leave a worker behind.
afterEach(async () => {
  for (const s of live) s.host.terminate();
  await Promise.all([...live].map((s) => s.exit));
});

describe('ReplicaHost', () => {
  it('says ready once the worker does, hands it tasks, posts results, and stops cleanly when asked', async () => {
    const s = start({ concurrency: 2, env: { MODEL_LOAD_MS: '50' } });
    await EventEmitterOnce(s.link, 'ready');
    s.link.submit(...[1, 2, 3, 4, 5].map((x) => ({ op: 'square', x })));
    const results = await s.link.untilResults(5);
    expect(results.map((r) => ('result' in r ? (r.result as { y: number }).y : null)).sort((a, b) => a! - b!)).toEqual([1, 4, 9, 16, 25]);
    expect(results.every((r) => r.attempt === 1)).toBe(true);
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.ends).toEqual([{ reason: 'stopped', detail: null }]);
    expect(s.link.readyCalls).toBe(1);
    // Nothing in flight and nothing to post: the host long-polls rather than spinning.
    expect(s.link.calls[0]).toEqual({ results: [], held: [], want: 2, waitMs: 25_000 });
    expect(s.link.calls.length).toBeLessThan(20);
  });

  it('never holds more tasks than its concurrency, and fills all of it', async () => {
    const s = start({ concurrency: 3 });
    s.link.submit(...Array.from({ length: 12 }, () => ({ op: 'sleep', ms: 30 })));
    const results = await s.link.untilResults(12);
    const held = results.map((r) => ('result' in r ? (r.result as { held: number }).held : -1));
    expect(Math.max(...held)).toBe(3);
    expect(s.link.maxOutstanding).toBe(3);
    for (const c of s.link.calls) expect(c.want).toBeLessThanOrEqual(3);
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
  });

  it('loads the model once for many tasks', async () => {
    const file = path.join(dir, 'loads-once');
    const s = start({ concurrency: 4, env: { MODEL_LOAD_MS: '100', LOAD_COUNT_FILE: file } });
    s.link.submit(...Array.from({ length: 200 }, (_, i) => ({ op: 'square', x: i })));
    const results = await s.link.untilResults(200);
    expect(new Set(results.map((r) => ('result' in r ? (r.result as { pid: number }).pid : 0))).size).toBe(1);
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(readFileSync(file, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('posts a worker error with its retryable flag', async () => {
    const s = start();
    s.link.submit({ op: 'fail', retryable: false }, { op: 'fail' });
    const results = await s.link.untilResults(2);
    expect(results).toEqual([
      { taskId: 1, attempt: 1, error: 'asked to fail', retryable: false },
      { taskId: 2, attempt: 1, error: 'asked to fail', retryable: true },
    ]);
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
  });

  it('on stop, answers the tasks it holds before shutting the worker down', async () => {
    const s = start({ concurrency: 2 });
    s.link.submit({ op: 'sleep', ms: 300 }, { op: 'sleep', ms: 300 });
    await new Promise<void>((r) => s.link.events.on('exchange', () => s.link.outstanding.size === 2 && r()));
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.results).toHaveLength(2);
    expect(s.link.ends).toEqual([{ reason: 'stopped', detail: null }]);
  });

  it('after shutdown, SIGTERMs and then SIGKILLs a worker that does not exit within the grace', async () => {
    const s = start({ graceMs: 100, env: { IGNORE_SHUTDOWN: '1', IGNORE_SIGTERM: '1' } });
    await EventEmitterOnce(s.link, 'ready');
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.ends[0]?.reason).toBe('stopped');
    expect(s.link.ends[0]?.detail).toMatch(/killed by SIGKILL after "shutdown".*SIGKILL/);
  });

  it('ends with task-timeout when a task is held too long, and posts the results it has', async () => {
    const s = start({ concurrency: 2, taskTimeoutMs: 300 });
    s.link.submit({ op: 'sleep', ms: 60_000 }, { op: 'square', x: 3 });
    expect(await s.exit).toBe(HOST_EXIT['task-timeout']);
    expect(s.link.ends).toEqual([{ reason: 'task-timeout', detail: 'task 1 (attempt 1) was held longer than 300 ms' }]);
    expect(s.link.results).toEqual([{ taskId: 2, attempt: 1, result: { y: 9, pid: expect.any(Number) } }]);
  });

  it('ends with start-timeout when the worker is not ready in time', async () => {
    const s = start({ startTimeoutMs: 200, env: { MODEL_LOAD_MS: '60000' } });
    expect(await s.exit).toBe(HOST_EXIT['start-timeout']);
    expect(s.link.ends).toEqual([{ reason: 'start-timeout', detail: 'the worker did not say "ready" within 200 ms' }]);
    expect(s.link.readyCalls).toBe(0);
  });

  it('ends with protocol-error when the worker prints something outside the protocol', async () => {
    const atStart = start({ env: { GARBAGE_AT_START: '1' } });
    expect(await atStart.exit).toBe(HOST_EXIT['protocol-error']);
    expect(atStart.link.ends).toEqual([{ reason: 'protocol-error', detail: 'not a JSON line: "Loading model... done"' }]);

    const later = start();
    later.link.submit({ op: 'garbage' });
    expect(await later.exit).toBe(HOST_EXIT['protocol-error']);
    expect(later.link.ends[0]?.reason).toBe('protocol-error');
  });

  it('ends with crashed when the worker exits by itself, with its exit code', async () => {
    const s = start();
    s.link.submit({ op: 'crash' });
    expect(await s.exit).toBe(HOST_EXIT.crashed);
    expect(s.link.ends).toEqual([{ reason: 'crashed', detail: 'the worker exited with code 1 holding 1 task(s)' }]);
  });

  it('ends with oom when its worker dies of a SIGKILL while the kernel\'s OOM killer acted, else with crashed', async () => {
    let kernelKills = 7;
    const oom = start({ oomKills: () => kernelKills });
    kernelKills = 8; // after the worker started
    oom.link.submit({ op: 'sigkill' });
    expect(await oom.exit).toBe(HOST_EXIT.oom);
    expect(oom.link.ends).toEqual([{ reason: 'oom', detail: expect.stringContaining("out-of-memory killer acted (oom_kill 7 → 8) holding 1 task(s)") }]);

    const killed = start({ oomKills: () => 7 });
    killed.link.submit({ op: 'sigkill' });
    expect(await killed.exit).toBe(HOST_EXIT.crashed);
    expect(killed.link.ends).toEqual([{ reason: 'crashed', detail: 'the worker was killed by SIGKILL, not sent by gpuq holding 1 task(s)' }]);
  });

  it('ends with crashed when the worker cannot be started', async () => {
    const s = start({ worker: { argv: [path.join(dir, 'no-such-program')], env: {} } });
    expect(await s.exit).toBe(HOST_EXIT.crashed);
    expect(s.link.ends[0]?.reason).toBe('crashed');
    expect(s.link.ends[0]?.detail).toMatch(/cannot start the worker .*ENOENT/);
  });

  it('ends with crashed when spawn refuses the command outright', async () => {
    const s = start({ worker: { argv: [''], env: {} } });
    expect(await s.exit).toBe(HOST_EXIT.crashed);
    expect(s.link.ends[0]?.detail).toMatch(/^cannot start the worker: /);
  });

  it('ends with oom at a CUDA out-of-memory line, and copies the worker\'s stderr', async () => {
    const s = start();
    s.link.submit({ op: 'oom' });
    expect(await s.exit).toBe(HOST_EXIT.oom);
    expect(s.link.ends).toEqual([{ reason: 'oom', detail: 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB' }]);
    expect(s.stderr()).toContain('Traceback (most recent call last):\nRuntimeError: CUDA out of memory');
  });

  it('with kill-on-oom off, keeps the worker after an OOM line and names it in the end', async () => {
    const s = start({ killOnOom: false, concurrency: 2, taskTimeoutMs: 1_000 });
    s.link.submit({ op: 'oom' }, { op: 'square', x: 2 });
    await s.link.untilResults(1);
    expect(s.logs.some((l) => l.includes('kill-on-oom is off'))).toBe(true);
    // The OOM'd task never answers: its timeout ends the replica.
    expect(await s.exit).toBe(HOST_EXIT['task-timeout']);
    expect(s.link.ends[0]?.detail).toMatch(/^task 1 .*; 1 CUDA out-of-memory line\(s\) in the worker's stderr, the first: RuntimeError: CUDA out of memory/);
  });

  it('on SIGTERM, shuts the worker down and exits 143 without an end report', async () => {
    const s = start({ concurrency: 2 });
    s.link.submit({ op: 'sleep', ms: 200 });
    await new Promise<void>((r) => s.link.events.on('exchange', () => s.link.outstanding.size === 1 && r()));
    s.host.terminate();
    expect(await s.exit).toBe(HOST_EXIT.terminated);
    // The task held finished within the grace, and its result was posted.
    expect(s.link.results).toHaveLength(1);
    expect(s.link.ends).toEqual([]);
  });

  it('on SIGTERM while idle, cuts its long-poll short', async () => {
    const s = start();
    await new Promise<void>((r) => s.link.events.on('exchange', () => r()));
    const t0 = performance.now();
    s.host.terminate();
    expect(await s.exit).toBe(HOST_EXIT.terminated);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('kills the worker and exits 4 when the control plane says the replica is gone', async () => {
    const s = start({ concurrency: 2 });
    s.link.submit({ op: 'sleep', ms: 60_000 });
    await new Promise<void>((r) => s.link.events.on('exchange', () => s.link.outstanding.size === 1 && r()));
    s.link.goneFrom = 'exchange';
    s.link.submit({ op: 'square', x: 1 });
    expect(await s.exit).toBe(HOST_EXIT.gone);
    expect(s.link.ends).toEqual([]);
  });

  it('a task claimed again while held is answered once, for its latest attempt', async () => {
    const s = start({ concurrency: 2 });
    s.link.submit({ op: 'sleep', ms: 300 });
    await new Promise<void>((r) => s.link.events.on('exchange', () => s.link.outstanding.size === 1 && r()));
    s.link.redeliver(1, 2, { op: 'sleep', ms: 300 });
    const [r] = await s.link.untilResults(1);
    expect(r).toMatchObject({ taskId: 1, attempt: 2, result: { attempt: 1 } });
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.results).toHaveLength(1);
  });

  it('lists in every exchange exactly the tasks it holds, and never asks for more than its concurrency leaves', async () => {
    const s = start({ concurrency: 3, sparePoll: { initialMs: 5, maxMs: 20 } });
    s.link.submit(...Array.from({ length: 12 }, (_, i) => ({ op: 'sleep', ms: 20 + (i % 4) * 15 })));
    await s.link.untilResults(12);
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    // The control plane's view after each call's results: what it runs under this attempt is what the host listed.
    expect(s.link.unheld.every((ids) => ids.length === 0)).toBe(true);
    expect(s.link.overheld.every((ids) => ids.length === 0)).toBe(true);
    expect(s.link.handedBack).toEqual([]);
    // Not vacuous: calls went out while the worker held tasks.
    expect(s.link.calls.some((c) => c.held.length > 0)).toBe(true);
    for (const c of s.link.calls) expect(c.held.length + c.want).toBeLessThanOrEqual(3);
  });

  it('an exchange whose answer is lost: the retry lists what the host holds, and gets back only the lost tasks, at the same attempt', async () => {
    const s = start({ concurrency: 2 });
    const [first] = s.link.submit({ op: 'sleep', ms: 400 });
    await new Promise<void>((r) => s.link.events.on('exchange', () => s.link.outstanding.size === 1 && r()));
    // The next task is claimed by a spare poll while the worker holds the first; that answer is lost and the call made again.
    s.link.loseAnswers = 1;
    const [second] = s.link.submit({ op: 'square', x: 7 });
    const results = await s.link.untilResults(2);
    expect(s.link.lost.map((a) => a.tasks.map((t) => t.id))).toEqual([[second]]);
    const retry = s.link.calls[s.link.calls.findIndex((c, i) => i > 0 && s.link.unheld[i]!.length > 0)]!;
    expect(retry.held).toEqual([first]);
    expect(s.link.handedBack).toEqual([second]);
    // Each task ran once, for its first (and only) delivery.
    expect(results.map((r) => [r.taskId, r.attempt]).sort()).toEqual([[first, 1], [second, 1]]);
    expect(results.find((r) => r.taskId === second)).toMatchObject({ result: { y: 49 } });
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.ends).toEqual([{ reason: 'stopped', detail: null }]);
  });

  it('a task handed back while its worker holds it is not sent to the worker again', async () => {
    const s = start({ concurrency: 2, sparePoll: { initialMs: 10, maxMs: 10 } });
    // A control plane that hands back every task it runs for this attempt at each call: the worker's task comes back while held.
    s.link.ignoreHeld = true;
    const [id] = s.link.submit({ op: 'sleep', ms: 300 });
    const [r] = await s.link.untilResults(1);
    expect(s.link.handedBack.filter((x) => x === id).length).toBeGreaterThan(0);
    // A task sent twice would be answered twice: the second answer, for a task the host no longer holds, is a protocol error.
    expect(r).toMatchObject({ taskId: id, attempt: 1, result: { slept: 300, held: 1 } });
    s.link.stop();
    expect(await s.exit).toBe(HOST_EXIT.stopped);
    expect(s.link.results).toHaveLength(1);
    expect(s.link.ends).toEqual([{ reason: 'stopped', detail: null }]);
  });
});

function EventEmitterOnce(link: QueueLink, event: 'ready'): Promise<void> {
  return new Promise((r) => link.events.once(event, () => r()));
}
