import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IntakeView as ServerIntakeView } from '../src/control-plane/intake/intake-service.js';
import { GpuqClient } from '../src/sdk/client.js';
import { IntakeApi, type IntakeView } from '../src/sdk/intake-client.js';
import { launchBrowser, screenshot, signIn, type TestBrowser } from './helpers/browser.js';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * The dashboard's pipeline, trigger, schedule and intake pages end to end: a real `gpuq up --fake-gpus 2 --auth
 * required` with broker intake from the real Redis at 127.0.0.1:6379, a real headless Chromium signed in as an
 * admin (and as a viewer, whose buttons are refused), pipelines run through the SDK and watched on the pages
 * without a reload (a marker set on `window` must still be there), pauses made on the pages checked through the API.
 * Steps wait for files the test creates (`gate`), so a run stays running until the test has seen it so.
 */

const REDIS_URL = process.env.GPUQ_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The SDK's intake types are written out (it does not import the server): `npm run typecheck` fails when they drift from the server's. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
void (true satisfies Same<IntakeView, ServerIntakeView>);

let gpuq: GpuqProcess;
let admin: GpuqClient;
let intake: IntakeApi;
let browser: TestBrowser;
let redis: Redis;
const tokens: Record<string, string> = {};
const base = `gpuq-test-${randomUUID().slice(0, 8)}`;
const streams = { in: `${base}.in`, dead: `${base}.in.dead`, done: `${base}.done` };
let dir: string;

beforeAll(async () => {
  dir = tempDir('gpuq-dash-pipelines-');
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const config = path.join(dir, 'intake.json');
  writeFileSync(config, JSON.stringify({ sources: [{ name: 'orders', kind: 'redis', url: REDIS_URL, stream: streams.in }], sinks: [{ name: 'done', kind: 'redis', url: REDIS_URL, stream: streams.done }] }));
  const dataDir = tempDir();
  gpuq = await startGpuq({ dataDir, fakeGpus: 2, args: ['--auth', 'required', '--intake-config', config] });
  const boot = await runCli(['token', 'create', '--role', 'admin', '--name', 'root', '--data-dir', dataDir, '--json']);
  expect(boot.code, boot.stderr).toBe(0);
  tokens.admin = (JSON.parse(boot.stdout) as { token: string }).token;
  admin = new GpuqClient(gpuq.url, { token: tokens.admin });
  intake = new IntakeApi(admin);
  tokens.viewer = (await admin.createToken('watcher', 'viewer')).token;
  browser = await launchBrowser();
});

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await gpuq?.stop();
    await redis?.del(...Object.values(streams));
    redis?.disconnect();
    expect(leakedServers()).toBe(0);
  }
});

/** A new tab signed in as `role`. */
async function tab(role: 'admin' | 'viewer'): Promise<Page> {
  const page = await browser.page();
  await signIn(page, gpuq.url, tokens[role]!);
  return page;
}

/** Marks the page; `notReloaded` stays true while the app only moves between its views. */
const mark = (page: Page) => page.evaluate(() => void ((globalThis as { notReloaded?: boolean }).notReloaded = true));
const notReloaded = (page: Page) => page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded === true);

const gate = (name: string) => path.join(dir, `gate-${name}`);
const open = (name: string) => writeFileSync(gate(name), '');
const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('the dashboard\'s pipeline pages', () => {
  it('shows a pipeline\'s steps, and its run live from running to succeeded with each step\'s jobs linked and the outputs published', async () => {
    const out = path.join(dir, 'out-shout');
    await admin.createPipeline({
      name: 'shout',
      description: 'upper-cases text on a GPU',
      outputDir: out,
      steps: [
        { name: 'prep', fanOut: true, job: { shell: `while [ ! -e ${gate('shout')} ]; do sleep 0.05; done; tr a-z A-Z < "$GPUQ_STEP_INPUT" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$GPUQ_STEP_INPUT")"` } },
        { name: 'infer', job: { gpus: 1, shell: 'cat $(for d in $(echo "$GPUQ_STEP_INPUT_DIRS" | tr ":" " "); do echo "$d"/*; done) > "$GPUQ_STEP_OUTPUT_DIR/all.txt"' } },
      ],
    });
    const page = await tab('admin');
    await page.getByTestId('nav-pipelines').click();
    const def = '[data-testid=pipeline-row][data-pipeline=shout]';
    await page.waitForSelector(def);
    await mark(page);
    expect(await page.innerText(`${def} [data-testid=pipeline-output-dir]`)).toBe(out);
    const steps = await page.$$eval(`${def} [data-testid=pipeline-step]`, (els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-kind'), e.getAttribute('data-fan-out'), e.textContent]));
    expect(steps).toEqual([
      ['prep', 'job', 'true', 'prep: job (CPU) · fan-out'],
      ['infer', 'job', 'false', 'infer: job (1 GPU)'],
    ]);
    await page.waitForSelector('[data-testid=runs-empty]');

    // Started through the SDK: its jobs' events bring it into the list, running.
    const { run } = await admin.runPipeline('shout', [{ name: 'a.txt', data: b64('hello a\n') }, { name: 'b.txt', data: b64('hello b\n') }]);
    const row = `[data-testid=run-row][data-run-id="${run.id}"]`;
    await page.waitForSelector(`${row}[data-state=running]`);
    expect(await page.innerText(`${row} [data-testid=run-inputs]`)).toBe('2');

    // Its page: a row per step and lane, each linked to its job.
    await page.click(`${row} [data-testid=run-link]`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${run.id}"][data-state=running]`);
    expect(await page.$$eval('[data-testid=run-input]', (els) => els.map((e) => e.textContent))).toEqual(['a.txt', 'b.txt']);
    const expected = [...run.jobs].sort((x, y) => x.step - y.step || x.lane - y.lane).map((j) => [['prep', 'infer'][j.step], String(j.lane), `/ui/jobs/${j.jobId}`]);
    const links = () => page.$$eval('[data-testid=run-unit]', (els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-lane'), e.querySelector('a')?.getAttribute('href') ?? null]));
    expect(await links()).toEqual(expected);
    expect(expected).toHaveLength(3);

    // Released: every job succeeds and the run ends, seen without a reload (read again on its jobs' events; the page's
    // timer covers an end the leader records after the last job's event was read).
    open('shout');
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${run.id}"][data-state=succeeded]`, { timeout: 30_000 });
    const done = (await admin.getPipelineRun(run.id)).run;
    expect(done.state).toBe('succeeded');
    expect(await page.$$eval('[data-testid=run-unit]', (els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(done.outputs!.map((o) => o.name)).toEqual(['all.txt']);
    expect(await page.$$eval('[data-testid=run-output]', (els) => els.map((e) => e.textContent))).toEqual(['all.txt']);
    await screenshot(page, 'pipeline-run');

    // A step's job link opens the job's page.
    await page.click(`[data-testid=run-unit][data-step=infer] [data-testid=run-unit-job]`);
    await page.waitForSelector(`[data-testid=job-page][data-job-id="${done.jobs.find((j) => j.step === 1)!.jobId}"]`);
    await page.getByTestId('nav-pipelines').click();
    await page.waitForSelector(`${row}[data-state=succeeded]`);
    await screenshot(page, 'pipelines');
    expect(await notReloaded(page)).toBe(true);
  });

  it('shows a failed run\'s reason and its on-failure job, filters runs by pipeline in the query string, and pages with the cursor', async () => {
    await admin.createPipeline({
      name: 'picky',
      outputDir: path.join(dir, 'out-picky'),
      steps: [{ name: 'check', job: { maxAttempts: 1, shell: 'echo "not ok" >&2; exit 3' } }],
      onFailure: { type: 'noop' },
    });
    await admin.createPipeline({ name: 'many', outputDir: path.join(dir, 'out-many'), steps: [{ name: 'one', job: { type: 'noop' } }] });
    const { run } = await admin.runPipeline('picky');
    const page = await tab('admin');
    await page.goto(`${gpuq.url}/ui/pipeline-runs/${run.id}`);
    await page.waitForSelector(`[data-testid=run-page][data-run-id="${run.id}"][data-state=failed]`, { timeout: 30_000 });
    const failed = await until('the on-failure job to be recorded', async () => {
      const r = (await admin.getPipelineRun(run.id)).run;
      return r.onFailureJobId !== null ? r : undefined;
    });
    expect(failed.reason).toMatch(/^step check, job \d+: exited with code 3/);
    expect(await page.innerText('[data-testid=run-facts] [data-testid=run-reason]')).toBe(failed.reason);
    await page.waitForSelector(`[data-testid=run-on-failure] a[href="/ui/jobs/${failed.onFailureJobId}"]`);
    expect(await page.innerText('[data-testid=run-outputs-none]')).toContain('nothing published');

    // 51 runs of "many": the first page holds 50, the next the oldest one.
    const ids: number[] = [];
    for (let i = 0; i < 51; i++) ids.push((await admin.runPipeline('many')).run.id);
    await page.getByTestId('nav-pipelines').click();
    await page.waitForSelector('[data-testid=run-row]');
    await page.selectOption('[data-testid=runs-pipeline]', 'picky');
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${run.id}"]`);
    expect(new URL(page.url()).search).toBe('?pipeline=picky');
    expect(await page.$$eval('[data-testid=run-row]', (els) => els.map((e) => e.getAttribute('data-run-id')))).toEqual([String(run.id)]);
    expect(await page.innerText(`[data-testid=run-row][data-run-id="${run.id}"] [data-testid=run-reason]`)).toBe(failed.reason);

    await page.goto(`${gpuq.url}/ui/pipelines?pipeline=many`);
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${ids.at(-1)}"]`);
    expect(await page.$$eval('[data-testid=run-row]', (els) => els.map((e) => Number(e.getAttribute('data-run-id'))))).toEqual(ids.slice(1).reverse());
    await page.click('[data-testid=pipeline-runs] [data-testid=next-page]');
    await page.waitForSelector(`[data-testid=run-row][data-run-id="${ids[0]}"]`);
    expect(await page.$$eval('[data-testid=run-row]', (els) => els.map((e) => Number(e.getAttribute('data-run-id'))))).toEqual([ids[0]]);
    expect(await page.isDisabled('[data-testid=pipeline-runs] [data-testid=next-page]')).toBe(true);
  });
});

describe('the dashboard\'s triggers and schedules', () => {
  it('pauses and resumes a directory trigger and a schedule from the page, and lists the schedule\'s latest fires', async () => {
    const inbox = tempDir('gpuq-dash-inbox-');
    await admin.createPipeline({ name: 'files', outputDir: path.join(dir, 'out-files'), steps: [{ name: 'copy', fanOut: true, job: { shell: 'cp "$GPUQ_STEP_INPUT" "$GPUQ_STEP_OUTPUT_DIR"/' } }] });
    await admin.createTrigger({ name: 'inbox', pipeline: 'files', directory: inbox, complete: { mode: 'marker' } });
    await admin.createSchedule({ name: 'tick', cron: '* * * * * *', target: { job: { type: 'noop', queue: 'ticks' } } });
    const page = await tab('admin');
    await page.getByTestId('nav-triggers').click();

    const trigger = '[data-testid=trigger-row][data-trigger=inbox]';
    await page.waitForSelector(`${trigger}[data-paused=false]`);
    await mark(page);
    expect(await page.innerText(`${trigger} [data-testid=trigger-completion]`)).toBe('marker: NAME.done beside it');
    await page.click(`${trigger} [data-testid=trigger-pause]`);
    await page.waitForSelector(`${trigger}[data-paused=true]`);
    expect((await admin.listTriggers()).triggers.find((t) => t.name === 'inbox')!.paused).toBe(true);
    await page.click(`${trigger} [data-testid=trigger-resume]`);
    await page.waitForSelector(`${trigger}[data-paused=false]`);
    expect((await admin.listTriggers()).triggers.find((t) => t.name === 'inbox')!.paused).toBe(false);

    // The schedule fires every second: its latest fires list the jobs it submitted.
    const schedule = '[data-testid=schedule-row][data-schedule=tick]';
    await page.waitForSelector(`${schedule}[data-paused=false]`);
    expect(await page.innerText(`${schedule} [data-testid=schedule-target]`)).toBe('job noop in queue ticks');
    await page.click(`${schedule} [data-testid=schedule-fires-toggle]`);
    const fire = await page.waitForSelector('[data-testid=schedule-fires][data-schedule=tick] [data-testid=fire-row]', { timeout: 15_000 });
    const fireAt = Number(await fire.getAttribute('data-fire-at'));
    const fires = (await admin.getSchedule('tick')).fires;
    const recorded = fires.find((f) => f.fireAt === fireAt);
    expect(recorded?.jobId).toBeGreaterThan(0);
    expect(await fire.$eval('[data-testid=fire-job]', (a) => a.getAttribute('href'))).toBe(`/ui/jobs/${recorded!.jobId}`);

    await page.click(`${schedule} [data-testid=schedule-pause]`);
    await page.waitForSelector(`${schedule}[data-paused=true]`);
    expect((await admin.getSchedule('tick')).schedule.paused).toBe(true);
    await page.click(`${schedule} [data-testid=schedule-resume]`);
    await page.waitForSelector(`${schedule}[data-paused=false]`);
    expect((await admin.getSchedule('tick')).schedule.paused).toBe(false);
    await screenshot(page, 'triggers');
    await admin.setSchedulesPaused(['tick'], true);
    expect(await notReloaded(page)).toBe(true);

    // Each action is an audited operator action.
    const audit = (await admin.audit({ limit: 100 })).entries.map((e) => `${e.action} ${e.target} ${e.outcome}`);
    for (const a of ['triggers.pause triggers inbox ok', 'triggers.resume triggers inbox ok', 'schedules.pause schedules tick ok', 'schedules.resume schedules tick ok']) expect(audit).toContain(a);
  });
});

describe('the dashboard\'s intake page', () => {
  it('shows the Redis source consuming with its counts, and "Stop all intake" and a source\'s pause take hold (checked through the API)', async () => {
    const page = await tab('admin');
    await page.getByTestId('nav-intake').click();
    const source = '[data-testid=intake-source][data-source=orders]';
    await page.waitForSelector(`${source}[data-state=consuming]`, { timeout: 15_000 });
    await mark(page);
    await redis.xadd(streams.in, '*', 'job', '{"type":"noop"}');
    // Counts are read on the page's timer: the message shows as received.
    await page.waitForSelector(`${source} [data-testid=source-received]:text-is("1")`, { timeout: 10_000 });
    expect((await intake.view()).sources[0]).toMatchObject({ name: 'orders', received: 1 });
    expect(await page.innerText('[data-testid=intake-sink][data-sink=done]')).toContain(streams.done);

    await page.getByTestId('stop-all-intake').click();
    await page.waitForSelector('[data-testid=confirm]');
    expect((await intake.view()).paused.all).toBe(false);
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=intake-status][data-all-paused=true]');
    await page.waitForSelector(`${source}[data-state=paused]`);
    expect((await intake.view()).paused).toEqual({ all: true, sources: [] });
    await screenshot(page, 'intake-stopped');

    await page.getByTestId('resume-all-intake').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector(`${source}[data-state=consuming]`);
    expect((await intake.view()).paused.all).toBe(false);

    await page.click(`${source} [data-testid=source-pause]`);
    await page.waitForSelector(`${source}[data-paused=true][data-state=paused]`);
    expect((await intake.view()).paused).toEqual({ all: false, sources: ['orders'] });
    await page.click(`${source} [data-testid=source-resume]`);
    await page.waitForSelector(`${source}[data-paused=false][data-state=consuming]`);
    expect((await intake.view()).paused).toEqual({ all: false, sources: [] });
    expect(await notReloaded(page)).toBe(true);
  });

  it('says plainly, not as an error, that a server without --intake-config runs no intake (an empty view, or a 404)', async () => {
    const bare = await startGpuq({ fakeGpus: 1 });
    const page = await browser.page();
    try {
      // `gpuq up` without --intake-config answers a view with no source and no sink.
      expect(await new IntakeApi(bare.client).view()).toMatchObject({ sources: [], sinks: [], paused: { all: false, sources: [] } });
      const plain = async () => {
        await page.waitForSelector('[data-testid=intake-none]');
        expect(await page.innerText('[data-testid=intake-none]')).toContain('This server runs no broker intake');
        expect(await page.$$('[role=alert]')).toHaveLength(0);
        expect(await page.$$('[data-testid=stop-all-intake]')).toHaveLength(0);
      };
      await page.goto(`${bare.url}/ui/intake`);
      await plain();
      // A server built without an intake service answers 404 NOT_FOUND (routes/intake.ts); no `gpuq up` does, so
      // the browser is given that answer, as the server words it, in place of the real one.
      let answered = 0;
      await page.route('**/v1/intake', (route) => {
        answered++;
        return route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'NOT_FOUND', message: 'this server runs no broker intake' } }) });
      });
      await page.reload();
      await plain();
      expect(answered).toBeGreaterThan(0);
    } finally {
      await page.close();
      await bare.stop();
    }
  });
});

describe('the pages for a viewer', () => {
  it('disables every pause, resume and stop with the reason as its title', async () => {
    await admin.createPipeline({ name: 'watched', outputDir: path.join(dir, 'out-watched'), steps: [{ name: 'one', job: { type: 'noop' } }] });
    await admin.createTrigger({ name: 'watched-in', pipeline: 'watched', directory: tempDir('gpuq-dash-watched-') });
    await admin.createSchedule({ name: 'yearly', cron: '0 0 1 1 *', target: { pipeline: 'watched' } });
    const page = await tab('viewer');
    await page.goto(`${gpuq.url}/ui/triggers`);
    for (const button of ['[data-testid=trigger-row][data-trigger=watched-in] [data-testid=trigger-pause]', '[data-testid=schedule-row][data-schedule=yearly] [data-testid=schedule-pause]']) {
      await page.waitForSelector(button);
      expect(await page.isDisabled(button)).toBe(true);
      expect(await page.getAttribute(button, 'title')).toBe('pipelines.manage needs the operator or admin role; token "watcher" has the role viewer');
    }
    // The latest fires are a read: open to a viewer.
    expect(await page.isDisabled('[data-testid=schedule-row][data-schedule=yearly] [data-testid=schedule-fires-toggle]')).toBe(false);
    await page.goto(`${gpuq.url}/ui/intake`);
    for (const button of ['[data-testid=stop-all-intake]', '[data-testid=intake-source][data-source=orders] [data-testid=source-pause]']) {
      await page.waitForSelector(button);
      expect(await page.isDisabled(button)).toBe(true);
      expect(await page.getAttribute(button, 'title')).toBe('intake.manage needs the operator or admin role; token "watcher" has the role viewer');
    }
  });
});
