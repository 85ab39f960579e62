import { afterAll, describe, expect, it } from 'vitest';
import type { ScheduleFire } from '../src/core/schedule-spec.js';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

// Schedules (ADR 0018) on a real `gpuq up` (SQLite, simulated GPUs) and the real clock: crons with a seconds field
// so fires come every second, pause and resume, and kill -9 of gpuq with fires missed while it is down.
const servers: GpuqProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  expect(leakedServers()).toBe(0);
});

async function server(dataDir?: string): Promise<GpuqProcess> {
  const s = await startGpuq({ fakeGpus: 1, ...(dataDir ? { dataDir } : {}) });
  servers.push(s);
  return s;
}

const everySecond = (name: string) => ({ name, cron: '* * * * * *', target: { job: { queue: `q-${name}`, shell: 'true' } } });
const firesOf = async (s: GpuqProcess, name: string): Promise<ScheduleFire[]> => (await s.client.getSchedule(name)).fires.sort((a, b) => a.fireAt - b.fireAt);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `gpuq schedule show NAME` (text and --json) of a paused schedule whose last pass has settled (its last fire is
 * lastFireAt): the JSON is the API's answer, and the text has the definition, the state, the last fire, and a row
 * per fire (newest first) naming what it started (`started` of each fire).
 */
async function expectShown(s: GpuqProcess, name: string, started: (f: ScheduleFire) => string): Promise<string> {
  const api = await until(`${name}: its last fire is its lastFireAt`, async () => {
    const r = await s.client.getSchedule(name);
    return r.schedule.paused && r.fires.length > 0 && r.schedule.lastFireAt === Math.max(...r.fires.map((f) => f.fireAt)) ? r : undefined;
  }, 10_000, 100);
  const json = await runCli(['schedule', 'show', name, '--json', '--url', s.url]);
  expect(json.code, json.stderr).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual(api);
  const text = await runCli(['schedule', 'show', name, '--url', s.url]);
  expect(text.code, text.stderr).toBe(0);
  const spec = api.schedule.spec;
  expect(text.stdout).toContain(`schedule ${name}: "${spec.cron}" (UTC), missed times: ${spec.missed}\n`);
  expect(text.stdout).toContain('\n  state: paused\n');
  expect(text.stdout).toContain(`\n  last fire: ${new Date(api.schedule.lastFireAt!).toISOString()} (`);
  expect(text.stdout).toContain(`\n  created: ${new Date(api.schedule.createdAt).toISOString()} (`);
  expect(text.stdout).toMatch(/\nFIRE \(UTC\) +STARTED\n/);
  const rows = text.stdout.split('\n').filter((l) => /^\d{4}-/.test(l)).map((l) => l.split(/ {2,}/));
  expect(rows).toEqual(api.fires.map((f) => [new Date(f.fireAt).toISOString(), started(f)]));
  expect(rows.length).toBeGreaterThanOrEqual(2);
  return text.stdout;
}

/**
 * Each fire has its own job, and no job exists but a fire's: keys distinct, one job per key. Called once nothing
 * fires any more (paused); a pass under way when it was paused is waited for (its job and fire are two writes).
 */
async function expectOneJobPerFire(s: GpuqProcess, name: string): Promise<void> {
  const read = async () => ({ fires: await firesOf(s, name), jobs: (await s.client.list({ queue: `q-${name}`, limit: 1000 })).jobs });
  const { fires, jobs } = await until(`${name}: its last fire recorded`, async () => {
    const r = await read();
    return r.jobs.length === r.fires.length ? r : undefined;
  }, 10_000, 100);
  const keys = jobs.map((j) => j.spec.idempotencyKey);
  expect(new Set(keys).size).toBe(jobs.length);
  expect(keys.every((k) => k?.startsWith(`schedule:${name}:`))).toBe(true);
  expect(jobs.map((j) => j.id).sort((a, b) => a - b)).toEqual(fires.map((f) => f.jobId).sort((a, b) => a! - b!));
  expect(new Set(fires.map((f) => f.fireAt)).size).toBe(fires.length);
}

describe('schedules', () => {
  it('refuses bad settings with a 400 naming the field, storing nothing', async () => {
    const s = await server();
    await s.client.createPipeline({ name: 'fans', outputDir: tempDir('gpuq-sched-out-'), steps: [{ name: 'one', fanOut: true, job: { shell: 'true' } }] });
    const post = async (body: unknown) => {
      const res = await fetch(`${s.url}/v1/schedules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, paths: ((await res.json()) as { error: { issues?: { path: string }[] } }).error.issues?.map((i) => i.path) ?? [] };
    };
    expect(await post({ name: 'x', cron: '61 * * * *', target: { job: { shell: 'true' } } })).toEqual({ status: 400, paths: ['cron'] });
    expect(await post({ name: 'x', cron: '* * * * *', target: { job: { shell: 'true', gpus: -1 } } })).toEqual({ status: 400, paths: ['target.job.gpus'] });
    expect(await post({ name: 'x', cron: '* * * * *', target: { pipeline: 'fans' } })).toEqual({ status: 400, paths: ['target.pipeline'] });
    expect(await post({ name: 'x', cron: '* * * * *', target: { job: { shell: 'true' } }, missed: 'sometimes' })).toEqual({ status: 400, paths: ['missed'] });
    expect((await s.client.listSchedules()).schedules).toEqual([]);

    // A pipeline that needs no inputs: each fire one run, its fire recorded in the run's transaction.
    await s.client.createPipeline({ name: 'tick', outputDir: tempDir('gpuq-sched-out-'), steps: [{ name: 'one', job: { shell: 'echo hi > "$GPUQ_STEP_OUTPUT_DIR/out.txt"' } }] });
    await s.client.createSchedule({ name: 'tick', cron: '* * * * * *', target: { pipeline: 'tick' } });
    await until('tick fired 3 times', async () => (await firesOf(s, 'tick')).length >= 3 || undefined, 30_000, 100);
    await s.client.setSchedulesPaused('all', true);
    // A fire's row is written with its run: the same runs, read in either order (a pass under way finishes first).
    const runIds = async () => (await s.client.listPipelineRuns({ pipeline: 'tick', limit: 100 })).runs.map((r) => r.id).sort((a, b) => a - b);
    await until('runs and fires read alike', async () => JSON.stringify(await runIds()) === JSON.stringify((await firesOf(s, 'tick')).map((f) => f.runId)) || undefined, 10_000, 100);
    const runs = (await s.client.listPipelineRuns({ pipeline: 'tick', limit: 100 })).runs;
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs.every((r) => r.inputs.length === 0)).toBe(true);

    // gpuq schedule show: each fire with the run it started, the target a run of the pipeline.
    const shown = await expectShown(s, 'tick', (f) => `run ${f.runId}`);
    expect(new Set((await s.client.getSchedule('tick')).fires.map((f) => f.runId))).toEqual(new Set(runs.map((r) => r.id)));
    expect(shown).toContain('\n  target: a run of pipeline tick (no inputs)\n');
    const missing = await runCli(['schedule', 'show', 'nope', '--url', s.url]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toContain('schedule "nope" not found');
  }, 60_000);

  it('fires each time once; pause stops fires, resume restarts them; after kill -9, missed: once makes one catch-up fire', async () => {
    const dataDir = tempDir('gpuq-sched-data-');
    let s = await server(dataDir);
    await s.client.createSchedule(everySecond('a'));
    await s.client.createSchedule(everySecond('b'));
    await until('a fired 3 times', async () => (await firesOf(s, 'a')).length >= 3 || undefined, 30_000, 100);

    // Paused, a fires no more while b, unpaused, fires three more times. Synced on b: once b fired twice after the
    // pause, a pass that began after it has ended (one under way may still have fired a).
    await s.client.setSchedulesPaused(['a'], true);
    const bPaused = (await firesOf(s, 'b')).length;
    await until('b fired twice', async () => (await firesOf(s, 'b')).length >= bPaused + 2 || undefined, 30_000, 100);
    const pausedAt = (await firesOf(s, 'a')).length;
    const bBefore = (await firesOf(s, 'b')).length;
    await until('b fired 3 more times', async () => (await firesOf(s, 'b')).length >= bBefore + 3 || undefined, 30_000, 100);
    expect(await firesOf(s, 'a')).toHaveLength(pausedAt);

    // Resumed, a fires again, from then on (the paused time is not caught up).
    const resumedAt = Date.now();
    await s.client.setSchedulesPaused(['a'], false);
    await until('a fired again', async () => (await firesOf(s, 'a')).length >= pausedAt + 2 || undefined, 30_000, 100);
    expect((await firesOf(s, 'a')).slice(pausedAt).every((f) => f.fireAt >= resumedAt - 1000)).toBe(true);

    // kill -9 and down for 7 s: with a time every 2 s, three or more are missed. Once back, missed: once makes one
    // fire for them all (the earliest missed time, its job submitted after the restart), then fires on schedule.
    await s.client.createSchedule({ name: 'c', cron: '*/2 * * * * *', target: { job: { queue: 'q-c', shell: 'true' } } });
    await until('c fired twice', async () => (await firesOf(s, 'c')).length >= 2 || undefined, 30_000, 100);
    const crashAt = Date.now();
    await s.crash();
    await sleep(7000);
    const restartAt = Date.now();
    s = await server(dataDir);
    await until('c fired on schedule after the restart', async () => (await firesOf(s, 'c')).some((f) => f.fireAt > restartAt) || undefined, 30_000, 100);
    const fires = await firesOf(s, 'c');
    const jobs = new Map((await s.client.list({ queue: 'q-c', limit: 1000 })).jobs.map((j) => [j.id, j]));
    const before = fires.filter((f) => f.fireAt <= restartAt);
    // Every time up to the catch-up fired, each once: consecutive, 2 s apart.
    before.slice(1).forEach((f, i) => expect(f.fireAt - before[i]!.fireAt).toBe(2000));
    const catchUp = before.at(-1)!;
    expect(catchUp.fireAt).toBeLessThanOrEqual(crashAt + 2000);
    // Only the catch-up was submitted after the restart; the next fire is on schedule, past the restart.
    expect(before.filter((f) => jobs.get(f.jobId!)!.createdAt >= restartAt).map((f) => f.fireAt)).toEqual([catchUp.fireAt]);
    expect(fires[before.length]!.fireAt).toBeGreaterThan(restartAt);
    await s.client.setSchedulesPaused('all', true);
    for (const name of ['a', 'b', 'c']) await expectOneJobPerFire(s, name);
    // gpuq schedule show: each fire with the job it submitted (the catch-up fire's too), the target a job template.
    const shown = await expectShown(s, 'c', (f) => `job ${f.jobId}`);
    expect(shown).toMatch(/\n  target: job \S+ in queue q-c, 0 GPU\(s\): true\n/);
  }, 180_000);
});
