import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/clock.js';
import { parseJobSpec } from '../src/core/job-spec.js';
import { planRun, runLayout } from '../src/core/pipeline-run.js';
import { parsePipelineSpec } from '../src/core/pipeline-spec.js';
import { parseTriggerSpec } from '../src/core/trigger-spec.js';
import type { Job } from '../src/core/types.js';
import { ControlPlane } from '../src/control-plane/control-plane.js';
import { Housekeeping } from '../src/control-plane/housekeeping.js';
import { Metrics } from '../src/control-plane/metrics.js';
import { poolSpec, readyReplica, submitTasks } from '../src/store/contract/pool-fixtures.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { tempDir } from './helpers/gpuq-process.js';

const DAY = 86_400_000;
const log = pino({ level: 'silent' });
let store: Store;
let clock: ManualClock;
let controlPlane: ControlPlane;
let metrics: Metrics;
let housekeeping: Housekeeping;

beforeEach(async () => {
  store = await openSqliteStore({ dataDir: tempDir() });
  await store.migrate();
  clock = new ManualClock();
  metrics = new Metrics(store);
  controlPlane = new ControlPlane(store, clock, metrics, log, { leaseMs: 30_000, random: () => 0.5 });
  await controlPlane.init();
  controlPlane.setLeader({ term: (await store.claimLeadership('test', null, clock.now(), 3_600_000)).term });
  housekeeping = new Housekeeping(store, controlPlane, clock, log, { reclaimEveryMs: 1000, nodeDownAfterMs: 10_000, retentionMs: 7 * DAY, telemetryRetentionMs: DAY, auditRetentionMs: 30 * DAY, eventRetentionMs: DAY, purgeEveryMs: 3_600_000 });
  await controlPlane.register({ id: 'n1', hostname: 'n1', labels: {}, cpus: 4, memoryMb: 1024, maxRunning: 8, devices: [], incarnation: 'x', lastHeartbeatAt: clock.now(), state: 'up' });
});
afterEach(async () => {
  await store.close();
});

async function submitOne(spec: object): Promise<Job> {
  const [out] = await store.submitJobs([parseJobSpec(spec)], clock.now());
  return out!.job;
}

async function runToEnd(spec: object, outcome: 'succeeded' | 'failed'): Promise<number> {
  const job = await submitOne({ ...spec, maxAttempts: 1 });
  const [a] = await store.applyPlan([{ jobId: job.id, nodeId: 'n1', devices: [] }], clock.now(), 30_000);
  await controlPlane.reportEnded([{ attemptId: a!.attemptId, startedAt: clock.now(), end: { state: outcome, retryable: true, reason: outcome }, exitCode: outcome === 'succeeded' ? 0 : 1, signal: null, endedAt: clock.now() }]);
  return job.id;
}

describe('housekeeping', () => {
  it('purges finished jobs after the retention period, but keeps DLQ jobs and younger ones', async () => {
    const old = await runToEnd({ type: 'noop' }, 'succeeded');
    const dead = await runToEnd({ command: ['false'] }, 'failed');
    clock.advance(6 * DAY);
    const young = await runToEnd({ type: 'noop' }, 'succeeded');
    await housekeeping.purge();
    expect(await store.getJob(old)).not.toBeNull();
    clock.advance(1 * DAY + 1);
    await housekeeping.purge();
    expect(await store.getJob(old)).toBeNull();
    expect(await store.listEvents(old)).toEqual([]);
    expect((await store.getJob(dead))?.inDlq).toBe(true);
    expect(await store.getJob(young)).not.toBeNull();
  });

  it('purges audit entries older than their retention period, and keeps younger ones', async () => {
    const entry = (target: string) => ({ at: clock.now(), actor: 'local', actorTokenId: null, role: null, action: 'control.maintenance' as const, target, outcome: 'ok' as const, detail: null });
    await store.appendAudit(entry('old'));
    clock.advance(20 * DAY);
    await store.appendAudit(entry('young'));
    await housekeeping.purge();
    expect((await store.listAudit({}, { limit: 10 })).items.map((e) => e.target)).toEqual(['young', 'old']);
    clock.advance(10 * DAY + 1);
    await housekeeping.purge();
    expect((await store.listAudit({}, { limit: 10 })).items.map((e) => e.target)).toEqual(['young']);
  });

  it('reclaims attempts whose lease expired and retries their jobs; a late report is then refused', async () => {
    const job = await submitOne({ command: ['sleep', '100'], backoff: { initialSeconds: 1, maxSeconds: 1 } });
    const [a] = await store.applyPlan([{ jobId: job.id, nodeId: 'n1', devices: [] }], clock.now(), 30_000);
    await controlPlane.reportStarted([{ attemptId: a!.attemptId, pid: 123, logPath: null, startedAt: clock.now() }]);
    clock.advance(29_000);
    await housekeeping.reclaim();
    expect((await store.getAttempt(a!.attemptId))?.state).toBe('running');
    clock.advance(2_000);
    await housekeeping.reclaim();
    expect(await store.getAttempt(a!.attemptId)).toMatchObject({ state: 'lost', reason: expect.stringContaining('lease expired') });
    expect((await store.getJob(job.id))?.state).toBe('queued');
    expect(await metrics.registry.getSingleMetricAsString('gpuq_lease_reclaims_total')).toMatch(/gpuq_lease_reclaims_total 1$/m);
    const late = await controlPlane.reportEnded([{ attemptId: a!.attemptId, end: { state: 'succeeded', retryable: false, reason: 'exit 0' }, exitCode: 0, signal: null, endedAt: clock.now() }]);
    expect(late).toEqual([{ attemptId: a!.attemptId, accepted: false }]);
    expect((await store.getJob(job.id))?.state).toBe('queued');
  });

  it('does nothing once another server took over, and tells the election its term ended', async () => {
    const job = await submitOne({ command: ['sleep', '100'] });
    const [a] = await store.applyPlan([{ jobId: job.id, nodeId: 'n1', devices: [] }], clock.now(), 30_000);
    const lost: number[] = [];
    controlPlane.onLeadershipLost = (term) => lost.push(term);
    const mine = (await store.getLeadership())!.term;
    await store.claimLeadership('other', null, clock.now(), 60_000, true);
    clock.advance(31_000);
    await expect(housekeeping.reclaim()).rejects.toMatchObject({ code: 'NOT_LEADER', term: mine });
    expect(lost).toEqual([mine]);
    expect((await store.listNodes())[0]?.state).toBe('up');
    expect((await store.getAttempt(a!.attemptId))?.state).toBe('assigned');
    await expect(housekeeping.purge()).rejects.toMatchObject({ code: 'NOT_LEADER' });
  });

  it('marks a node down when it stops heartbeating', async () => {
    clock.advance(10_001);
    await housekeeping.reclaim();
    expect((await store.listNodes())[0]?.state).toBe('down');
    await controlPlane.heartbeat('n1', [], []);
    expect((await store.listNodes())[0]?.state).toBe('up');
  });

  it('removes ended pipeline runs with their run directories, and triggers\' done/ files, after the retention period; keeps running runs and failed/', async () => {
    clock = new ManualClock(Date.now());
    controlPlane = new ControlPlane(store, clock, metrics, log, { leaseMs: 30_000, random: () => 0.5 });
    await controlPlane.init();
    controlPlane.setLeader({ term: (await store.claimLeadership('test2', null, clock.now(), 3_600_000)).term });
    housekeeping = new Housekeeping(store, controlPlane, clock, log, { reclaimEveryMs: 1000, nodeDownAfterMs: 10_000, retentionMs: 7 * DAY, telemetryRetentionMs: DAY, auditRetentionMs: 30 * DAY, eventRetentionMs: DAY, purgeEveryMs: 3_600_000 });
    const root = tempDir();
    await store.createPipeline(parsePipelineSpec({ name: 'p', outputDir: path.join(root, 'out'), steps: [{ name: 's', job: { type: 'noop' } }] }), clock.now());
    const start = async (name: string) => {
      const dir = path.join(root, name);
      mkdirSync(dir);
      return (await store.createPipelineRun({ pipeline: 'p', runDir: dir, inputs: [] }, (id, spec) => planRun(spec, id, runLayout(dir), []), clock.now(), null))!;
    };
    const [ended, running] = [await start('ended'), await start('running')];
    await store.endPipelineRun(ended.id, { state: 'succeeded', reason: null, onFailureJobId: null }, clock.now());
    const inbox = path.join(root, 'inbox');
    for (const area of ['done', 'failed']) mkdirSync(path.join(inbox, area), { recursive: true });
    writeFileSync(path.join(inbox, 'done', 'a.csv'), 'a');
    writeFileSync(path.join(inbox, 'failed', 'b.csv'), 'b');
    await store.createTrigger(parseTriggerSpec({ name: 'in', pipeline: 'p', directory: inbox }), clock.now());

    clock.advance(6 * DAY);
    await housekeeping.purge();
    expect(await store.getPipelineRun(ended.id)).not.toBeNull();
    expect(existsSync(path.join(inbox, 'done', 'a.csv'))).toBe(true);
    clock.advance(DAY + 1000);
    await housekeeping.purge();
    expect(await store.getPipelineRun(ended.id)).toBeNull();
    expect(existsSync(ended.runDir)).toBe(false);
    expect(await store.getPipelineRun(running.id)).not.toBeNull();
    expect(existsSync(running.runDir)).toBe(true);
    expect(existsSync(path.join(inbox, 'done', 'a.csv'))).toBe(false);
    expect(existsSync(path.join(inbox, 'failed', 'b.csv'))).toBe(true);
  });

  it('purges finished pool tasks after the retention period, but keeps those in the pool DLQ and those not finished', async () => {
    const t0 = clock.now();
    await store.createPool(poolSpec('p', { maxAttempts: 1 }), t0);
    const tasks = await submitTasks(store, 'p', 3, t0);
    const { jobId, attemptId } = await readyReplica(store, 'p', t0);
    await store.claimTasks(jobId, attemptId, 2, t0, []);
    await store.completeTasks(jobId, attemptId, [{ taskId: tasks[0]!, attempt: 1, result: 1 }, { taskId: tasks[1]!, attempt: 1, error: 'bad', retryable: false }], t0, () => 0.5);
    clock.advance(7 * DAY - 1);
    await housekeeping.purge();
    expect((await store.getTasks('p', tasks)).map((t) => t.id)).toEqual(tasks);
    clock.advance(2);
    await housekeeping.purge();
    expect((await store.getTasks('p', tasks)).map((t) => [t.id, t.state])).toEqual([[tasks[1], 'failed'], [tasks[2], 'queued']]);
  });
});
