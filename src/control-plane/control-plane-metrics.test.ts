/**
 * In a cluster an agent may report to a server that did not dispatch its attempts: that server's
 * metrics still count them under their queue (queue wait, run time, outcome).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { parseJobSpec } from '../core/job-spec.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { ControlPlane } from './control-plane.js';
import { Metrics } from './metrics.js';

const log = pino({ level: 'silent' });
let store: Store;
let clock: ManualClock;
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'gpuq-cp-metrics-'));
  store = await openSqliteStore({ dataDir: dir });
  await store.migrate();
  clock = new ManualClock();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function server() {
  const metrics = new Metrics(store);
  const cp = new ControlPlane(store, clock, metrics, log, { leaseMs: 30_000, random: () => 0.5 });
  await cp.init();
  return { cp, metrics };
}

/** The sample count of a histogram series, or the value of a counter series, with these labels. */
async function value(metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number; metricName?: string }[] }> }, labels: Record<string, string>, suffix = '_count'): Promise<number | undefined> {
  const { values } = await metric.get();
  return values.find((v) => (v.metricName === undefined || v.metricName.endsWith(suffix)) && Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value;
}

describe('metrics of attempts reported through another server', () => {
  it('are counted under their queue by the server that hears the reports', async () => {
    const a = await server();
    const b = await server();
    await a.cp.register({ id: 'n1', hostname: 'n1', labels: {}, cpus: 4, memoryMb: 1024, maxRunning: 8, devices: [], incarnation: 'x', lastHeartbeatAt: clock.now(), state: 'up' });
    const [out] = await store.submitJobs([parseJobSpec({ queue: 'train', command: ['true'], maxAttempts: 1 })], clock.now());
    clock.advance(2000);
    const attempts = await store.applyPlan([{ jobId: out!.job.id, nodeId: 'n1', devices: [] }], clock.now(), 30_000);
    a.cp.dispatch(attempts); // server a decided and dispatched; the agent reports to server b
    const attemptId = attempts[0]!.attemptId;
    await b.cp.reportStarted([{ attemptId, startedAt: clock.now(), pid: 123, logPath: '/tmp/x.log' }]);
    clock.advance(5000);
    await b.cp.reportEnded([{ attemptId, end: { state: 'succeeded', retryable: false, reason: 'exited with code 0' }, exitCode: 0, signal: null, endedAt: clock.now() }]);

    expect(await value(b.metrics.queueWait, { queue: 'train' })).toBe(1);
    expect(await value(b.metrics.queueWait, { queue: 'train' }, '_sum')).toBeCloseTo(2, 6);
    expect(await value(b.metrics.runTime, { queue: 'train' })).toBe(1);
    expect(await value(b.metrics.runTime, { queue: 'train' }, '_sum')).toBeCloseTo(5, 6);
    expect(await value(b.metrics.jobsFinished, { queue: 'train', outcome: 'succeeded' }, '')).toBe(1);
    expect(await value(b.metrics.jobsFinished, { queue: 'unknown' }, '')).toBeUndefined();
    expect(await value(a.metrics.queueWait, { queue: 'train' })).toBeUndefined();
  });
});
