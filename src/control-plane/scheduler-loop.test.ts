import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { parseJobSpec, type JobSpecInput } from '../core/job-spec.js';
import type { NodeRegistration } from '../core/types.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { ControlPlane } from './control-plane.js';
import { Metrics } from './metrics.js';
import { SchedulerLoop } from './scheduler-loop.js';

// The loop against a real SQLite store, with no agent attached: what it places is read back from the store.
const log = pino({ level: 'silent' });
let dir: string;
let store: Store;
let clock: ManualClock;
let controlPlane: ControlPlane;
let loop: SchedulerLoop;
/** The queue look-ahead (limit) of every snapshot the loop read. */
let windows: number[];

function node(maxRunning: number, gpus = 0): NodeRegistration {
  const devices = Array.from({ length: gpus }, (_, index) => ({ index, uuid: `GPU-${index}`, name: 'Fake', simulated: true, memoryTotalMb: 1024, pciBusId: null, healthy: true }));
  return { id: 'n1', hostname: 'n1', labels: {}, cpus: 4, memoryMb: 4096, maxRunning, devices, incarnation: 'x', lastHeartbeatAt: clock.now(), state: 'up' };
}

async function submit(n: number, spec: Partial<JobSpecInput> = {}): Promise<number[]> {
  const out = await controlPlane.submit(Array.from({ length: n }, () => parseJobSpec({ command: ['true'], ...spec })));
  return out.map((o) => o.job.id);
}

/** Waits until `check` holds; the loop runs on its own timers. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const live = async () => (await store.listLiveAttempts()).length;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-loop-'));
  const real = await openSqliteStore({ dataDir: dir });
  windows = [];
  store = {
    ...real,
    schedulingSnapshot: (now, limit) => {
      windows.push(limit);
      return real.schedulingSnapshot(now, limit);
    },
  };
  clock = new ManualClock();
  const metrics = new Metrics(store);
  controlPlane = new ControlPlane(store, clock, metrics, log, { leaseMs: 30_000, random: () => 0.5 });
  await controlPlane.init();
  controlPlane.setLeader({ term: (await store.claimLeadership('test', null, clock.now(), 3_600_000)).term });
  loop = new SchedulerLoop(store, controlPlane, clock, metrics, log, { batchSize: 2000, leaseMs: 30_000, periodMs: 60_000 });
  controlPlane.onWork = () => loop.wake();
});

afterEach(async () => {
  await loop.stop();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('scheduler loop: run slots and look-ahead', () => {
  it('starts no more exec jobs than the node has slots, reads only the head of a long queue, and fills slots as attempts end', async () => {
    await controlPlane.register(node(4));
    const ids = await submit(500);
    windows = [];
    loop.start();
    await until('4 attempts', async () => (await live()) === 4);
    expect(windows.every((w) => w === 16)).toBe(true); // twice the node's slots, at least 16: never the whole queue
    expect(loop.waitingReason(ids[4]!)).toMatch(/^waiting for a free run slot/);
    expect(loop.waitingReason(ids[400]!)).toMatch(/^not yet considered: each scheduling pass looks at the first 16 runnable jobs/);

    const running = await store.listLiveAttempts();
    await controlPlane.reportEnded(running.slice(0, 3).map((a) => ({ attemptId: a.id, startedAt: clock.now(), end: { state: 'succeeded', retryable: false, reason: 'ok' }, exitCode: 0, signal: null, endedAt: clock.now() })));
    await until('the freed slots to be taken', async () => (await live()) === 4 && (await store.listJobs({ states: ['succeeded'] }, { limit: 10 })).items.length === 3);
    expect((await store.listLiveAttempts()).map((a) => a.jobId)).toEqual([ids[3], ids[4], ids[5], ids[6]]);
  });

  it('reads further when a full window of blocked jobs leaves slots free, so exec jobs behind GPU jobs still start', async () => {
    await controlPlane.register(node(8, 1));
    const gpuJobs = await submit(40, { gpus: 1 });
    const cpuJobs = await submit(10);
    windows = [];
    loop.start();
    // One GPU job runs; the next reserves the node (holding a slot); six slots are left for the CPU jobs behind them.
    await until('7 attempts', async () => (await live()) === 7);
    expect(windows.slice(0, 2)).toEqual([16, 64]);
    const started = new Set((await store.listLiveAttempts()).map((a) => a.jobId));
    expect(started).toEqual(new Set([gpuJobs[0], ...cpuJobs.slice(0, 6)]));
    expect(loop.waitingReason(gpuJobs[1]!)).toBe('waiting for 1 more GPU (reserved on n1)');
  });

  it('starts noops without a slot', async () => {
    await controlPlane.register(node(1));
    await submit(3);
    const noops = await controlPlane.submit([{ type: 'noop' }, { type: 'noop' }]);
    loop.start();
    await until('the exec job and both noops', async () => (await live()) === 3);
    expect((await store.listLiveAttempts()).map((a) => a.jobId)).toContain(noops[1]!.job.id);
  });
});
