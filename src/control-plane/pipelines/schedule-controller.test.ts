import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fireJobKey } from '../../core/schedule-spec.js';
import type { MaintenanceMode } from '../../core/types.js';
import { startTestServer, type TestServer } from '../test-server.js';
import type { PipelineService } from './pipeline-service.js';
import { ScheduleController } from './schedule-controller.js';

// The leader's schedule passes with a moved clock (the test server's ManualClock): policies over a downtime, a
// crash between a job's submit and its fire's record, drain and pause. The routes are the real ones (inject).
const HOUR = 3_600_000;
let t: TestServer;
let mode: MaintenanceMode;
let controller: ScheduleController;

beforeEach(async () => {
  t = await startTestServer({ prefix: 'gpuq-sched-' });
  mode = 'normal';
  // Job targets only here: the pipeline service is not needed (pipeline fires: the store contract and the e2e test).
  controller = new ScheduleController(t.store, t.controlPlane, null as unknown as PipelineService, (write) => write(undefined as never), () => mode, t.clock, pino({ level: 'silent' }));
});
afterEach(() => t.close());

const create = (body: unknown) => t.app.inject({ method: 'POST', url: '/v1/schedules', payload: body as object });
const hourly = (name: string, missed: string) => ({ name, cron: '0 * * * *', target: { job: { queue: `q-${name}`, gpus: 0, shell: 'true' } }, missed });
const jobKeys = async (name: string) => (await t.store.listJobs({ queue: `q-${name}` }, { limit: 1000 })).items.map((j) => j.spec.idempotencyKey).sort();
const fires = async (name: string) => (await t.store.listScheduleFires(name, 1000)).map((f) => f.fireAt).sort((a, b) => a - b);
const hourAfter = (ms: number, n: number) => Math.floor(ms / HOUR) * HOUR + n * HOUR;

describe('ScheduleController', () => {
  it('missed once / skip / all over a downtime of three hours', async () => {
    const t0 = t.clock.now();
    for (const m of ['once', 'skip', 'all']) expect((await create(hourly(m, m))).statusCode).toBe(201);
    t.clock.advance(3 * HOUR + 10 * 60_000);
    await controller.pass();
    expect(await fires('once')).toEqual([hourAfter(t0, 1)]);
    expect(await fires('skip')).toEqual([]);
    expect(await fires('all')).toEqual([1, 2, 3].map((n) => hourAfter(t0, n)));
    for (const m of ['once', 'skip', 'all']) expect((await t.store.getSchedule(m))!.lastFireAt).toBe(hourAfter(t0, 3));
    // On time again: each fires the next hour once, however many passes.
    t.clock.advance(hourAfter(t0, 4) + 30_000 - t.clock.now());
    await controller.pass();
    await controller.pass();
    expect(await fires('skip')).toEqual([hourAfter(t0, 4)]);
    expect(await fires('once')).toEqual([hourAfter(t0, 1), hourAfter(t0, 4)]);
    expect(await jobKeys('all')).toEqual([1, 2, 3, 4].map((n) => fireJobKey('all', hourAfter(t0, n))).sort());
  });

  it('a leader that died after submitting a fire\'s job but before recording it: the next submits the same key, one job', async () => {
    const t0 = t.clock.now();
    await create(hourly('n', 'once'));
    t.clock.advance(HOUR);
    // The dead leader's half: the job, no fire recorded, lastFireAt not moved.
    const target = (await t.store.getSchedule('n'))!.spec.target;
    if (!('job' in target)) throw new Error('a job schedule');
    await t.controlPlane.submitParsed([{ ...target.job, idempotencyKey: fireJobKey('n', hourAfter(t0, 1)) }], null);
    await controller.pass();
    expect(await jobKeys('n')).toEqual([fireJobKey('n', hourAfter(t0, 1))]);
    expect(await fires('n')).toEqual([hourAfter(t0, 1)]);
  });

  it('fires nothing while the cluster drains or the schedule is paused; resumed, from then on', async () => {
    const t0 = t.clock.now();
    await create(hourly('n', 'all'));
    mode = 'drain';
    t.clock.advance(HOUR);
    await controller.pass();
    expect(await fires('n')).toEqual([]);
    mode = 'normal';
    await controller.pass();
    expect(await fires('n')).toEqual([hourAfter(t0, 1)]);

    expect((await t.app.inject({ method: 'POST', url: '/v1/schedules/pause', payload: { names: ['n'] } })).json()).toMatchObject({ changed: ['n'] });
    t.clock.advance(2 * HOUR);
    await controller.pass();
    expect(await fires('n')).toEqual([hourAfter(t0, 1)]);
    await t.app.inject({ method: 'POST', url: '/v1/schedules/resume', payload: { all: true } });
    await controller.pass();
    expect(await fires('n')).toEqual([hourAfter(t0, 1)]);
    t.clock.advance(HOUR);
    await controller.pass();
    expect(await fires('n')).toEqual([hourAfter(t0, 1), hourAfter(t0, 4)]);
    const audit = (await t.store.listAudit({}, { limit: 10 })).items.map((e) => e.action);
    expect(audit).toEqual(['schedules.resume', 'schedules.pause', 'schedules.create']);
  });

  it('serves the schedule with its fires, deletes it, and answers 404 after', async () => {
    await create(hourly('n', 'once'));
    t.clock.advance(HOUR);
    await controller.pass();
    const got = (await t.app.inject({ method: 'GET', url: '/v1/schedules/n' })).json() as { schedule: { name: string }; fires: { jobId: number }[] };
    expect(got.schedule.name).toBe('n');
    expect(got.fires).toHaveLength(1);
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/schedules/n' })).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/schedules/n' })).json()).toMatchObject({ error: { code: 'SCHEDULE_NOT_FOUND' } });
    expect((await create(hourly('n', 'once'))).statusCode).toBe(201);
    expect((await create(hourly('n', 'once'))).json()).toMatchObject({ error: { code: 'SCHEDULE_EXISTS' } });
  });
});
