import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot, type TestBrowser } from './helpers/browser.js';
import { leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * The web dashboard end to end: a real `gpuq up --fake-gpus 2`, a real headless Chromium, jobs submitted through
 * the API and through the dashboard, and every change seen live (the page is never reloaded: a marker set on
 * `window` at the start must still be there at the end). Screenshots of each view go to test-results/screenshots/.
 *
 * Jobs wait for files the test creates (`gate`), so each state lasts until the test has seen it.
 */

/** The browser's globals that callbacks run in the page (page.waitForFunction) read. */
declare const document: { querySelectorAll(selector: string): { length: number } };

let gpuq: GpuqProcess;
let browser: TestBrowser;
let page: Page;
let gates: string;

/** A shell fragment that waits until the test creates the file `name`. */
const waitFor = (name: string) => `while [ ! -f ${path.join(gates, name)} ]; do sleep 0.05; done`;
const open = (name: string) => writeFileSync(path.join(gates, name), '');

const row = (id: number, state?: string) => `[data-testid=job-row][data-job-id="${id}"]${state ? `[data-state="${state}"]` : ''}`;
const tileValue = (key: string) => page.getAttribute(`[data-testid=count-${key}] .tile-value`, 'data-value');

beforeAll(async () => {
  gates = tempDir('gpuq-dashboard-gates-');
  // Idle after 1.2 s under 5 % (sampled every 0.5 s), so a scripted idle spell is seen in seconds.
  gpuq = await startGpuq({ fakeGpus: 2, args: ['--idle-minutes', '0.02', '--telemetry-seconds', '0.5'] });
  browser = await launchBrowser();
  page = await browser.page();
});

afterAll(async () => {
  await browser?.close();
  await gpuq?.stop();
  expect(leakedServers()).toBe(0);
});

describe('the dashboard (auth off, 2 simulated GPUs)', () => {
  it('serves / as a redirect to /ui/ and shows the overview with live counts and a tile per simulated GPU', async () => {
    await page.goto(`${gpuq.url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui/');
    await page.waitForSelector('[data-testid=counts][data-ready=true]');
    await page.waitForSelector('[data-testid=live-status][data-status=live]');
    await page.evaluate(() => void ((globalThis as { notReloaded?: boolean }).notReloaded = true));
    // Two tiles, each marked SIMULATED, on the node `gpuq up` registered.
    const tiles = page.getByTestId('gpu-tile');
    expect(await tiles.count()).toBe(2);
    for (const t of await tiles.all()) expect(await t.innerText()).toContain('SIMULATED');
    expect(await page.innerText('[data-testid=who]')).toContain('auth off');
    expect(await tileValue('queued')).toBe('0');

    // A job submitted through the API shows in the counts without a reload.
    const { job } = await gpuq.client.submit({ name: 'counted', gpus: 1, shell: waitFor('counted') });
    await page.waitForSelector('[data-testid=count-running] .tile-value[data-value="1"]');
    await page.waitForSelector(`[data-testid=gpu-tile][data-busy=true] >> text=job ${job.id}`, { timeout: 15_000 });
    open('counted');
    await page.waitForSelector('[data-testid=count-succeeded] .tile-value[data-value="1"]');
    expect(await tileValue('running')).toBe('0');
    await screenshot(page, 'overview');
  });

  it('flags a GPU tile IDLE while its job\'s scripted load idles, and clears the flag when the load comes back', async () => {
    // Simulated devices follow the job's script: 2 % for 8 s, then 90 %.
    const { job } = await gpuq.client.submit({ name: 'idler', gpus: 1, env: { GPUQ_FAKE_GPU_UTILIZATION: '2:8,90:600' }, shell: waitFor('idler') });
    const tile = `[data-testid=gpu-tile]:has([data-testid=gpu-job]:has-text("job ${job.id} "))`;
    try {
      await page.waitForSelector(`${tile} [data-testid=idle-badge]`, { timeout: 20_000 });
      expect((await gpuq.client.get(job.id)).attempts[0]).toHaveProperty('idleSince', expect.any(Number));
      await page.waitForSelector(`${tile} [data-testid=idle-badge]`, { state: 'detached', timeout: 20_000 });
      expect((await gpuq.client.get(job.id)).attempts[0]).toHaveProperty('idleSince', null);
    } finally {
      open('idler');
    }
    // The tile frees its GPU when the job ends.
    await page.waitForSelector(`${tile}`, { state: 'detached', timeout: 15_000 });
  });

  it('follows jobs submitted through the API from queued to running to succeeded, live, in the jobs table', async () => {
    await page.getByTestId('nav-jobs').click();
    await page.waitForSelector('[data-testid=jobs-table]');
    // Both GPUs held by a blocker: the next GPU job waits, queued.
    const blocker = (await gpuq.client.submit({ name: 'blocker', gpus: 2, shell: waitFor('blocker') })).job;
    await page.waitForSelector(row(blocker.id, 'running'));
    const watched = (await gpuq.client.submit({ name: 'watched', gpus: 1, shell: `echo started; ${waitFor('watched')}` })).job;
    await page.waitForSelector(row(watched.id, 'queued'));
    await screenshot(page, 'jobs');
    try {
      open('blocker');
      await page.waitForSelector(row(blocker.id, 'succeeded'));
      await page.waitForSelector(row(watched.id, 'running'));
    } finally {
      open('blocker');
      open('watched');
    }
    await page.waitForSelector(row(watched.id, 'succeeded'));
    expect((await gpuq.client.get(watched.id)).job.state).toBe('succeeded');
    expect(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded)).toBe(true);

    // Filters and search go to the server: only the named job, then only succeeded ones.
    await page.getByTestId('filter-name').fill('watch');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=job-row]').length === 1);
    expect(await page.getAttribute('[data-testid=job-row]', 'data-job-id')).toBe(String(watched.id));
    await page.getByTestId('filter-name').fill('');
    const all = (await gpuq.client.list()).jobs.length;
    expect(all).toBeGreaterThan(1);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=job-row]').length === n, all);
  });

  it('submits a job through the dashboard, follows its log live, and cancels it from the UI', async () => {
    await page.getByTestId('new-job').click();
    await page.getByTestId('submit-name').fill('from-the-dashboard');
    await page.getByTestId('submit-shell').fill(`echo first line; ${waitFor('second')}; echo second line; ${waitFor('never')}`);
    await page.getByTestId('submit-gpus').fill('1');
    await page.getByTestId('submit-job').click();
    // The dashboard goes to the new job's page.
    await page.waitForSelector('[data-testid=job-page]');
    const id = Number(await page.getAttribute('[data-testid=job-page]', 'data-job-id'));
    const submitted = await gpuq.client.get(id);
    expect(submitted.job).toMatchObject({ name: 'from-the-dashboard', gpus: 1, owner: null });
    expect(submitted.job.spec.shell).toContain('echo first line');

    await page.waitForSelector('[data-testid=job-page][data-state=running]');
    await page.waitForSelector('[data-testid=log]:has-text("first line")');
    expect(await page.innerText('[data-testid=log]')).not.toContain('second line');
    open('second');
    await page.waitForSelector('[data-testid=log]:has-text("second line")');
    expect(await page.innerText('[data-testid=log-status]')).toContain('following');
    await page.waitForSelector('[data-testid=accounting-attempt]', { timeout: 15_000 });
    await screenshot(page, 'job');

    await page.getByTestId('cancel-job').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=job-page][data-state=cancelled]');
    const cancelled = await gpuq.client.get(id);
    expect(cancelled.job.state).toBe('cancelled');
    expect(cancelled.job.reason).toBe('cancelled from the dashboard');
    // Its log stream ended with the attempt.
    await page.waitForSelector('[data-testid=log-status]:has-text("ended")');
    expect(await page.isDisabled('[data-testid=cancel-job]')).toBe(true);
  });

  it('shows a failed job in the DLQ with its last error, and replays it from there', async () => {
    const fixed = path.join(gates, 'fixed');
    const { job } = await gpuq.client.submit({ name: 'flaky-until-fixed', maxAttempts: 1, shell: `if [ -f ${fixed} ]; then echo fixed; else echo "disk full" >&2; exit 3; fi` });
    await page.getByTestId('nav-dlq').click();
    await page.waitForSelector(`[data-testid=dlq-row][data-job-id="${job.id}"]`);
    const reason = await page.innerText(`[data-testid=dlq-row][data-job-id="${job.id}"] [data-testid=dlq-reason]`);
    expect(reason).toBe((await gpuq.client.get(job.id)).job.reason);
    expect(reason).toContain('code 3');
    await screenshot(page, 'dlq');

    open('fixed');
    await page.click(`[data-testid=dlq-row][data-job-id="${job.id}"] [data-testid=dlq-select]`);
    await page.getByTestId('replay-selected').click();
    // It leaves the DLQ (live), runs again and succeeds.
    await page.waitForSelector(`[data-testid=dlq-row][data-job-id="${job.id}"]`, { state: 'detached' });
    await until('the replayed job to succeed', async () => (await gpuq.client.get(job.id)).job.state === 'succeeded');
    const detail = await gpuq.client.get(job.id);
    expect(detail.attempts.map((a) => a.state)).toEqual(['failed', 'succeeded']);
    expect(detail.events.some((e) => e.from === 'failed' && e.to === 'queued' && e.reason === 'replayed from DLQ')).toBe(true);
  });

  it('cordons and uncordons a node from the nodes page', async () => {
    await page.getByTestId('nav-nodes').click();
    const node = (await gpuq.client.nodes()).nodes[0]!;
    const card = `[data-testid="node-${node.id}"]`;
    await page.waitForSelector(`${card} [data-testid=node-admin]`);
    expect(await page.innerText(`${card} [data-testid=node-admin]`)).toBe('active');
    await page.click(`${card} [data-testid=node-cordon]`);
    await page.waitForSelector(`${card} [data-testid=node-admin] >> text=cordoned`);
    expect((await gpuq.client.node(node.id)).node.adminState).toBe('cordoned');
    await page.click(`${card} [data-testid=node-uncordon]`);
    await page.waitForSelector(`${card} [data-testid=node-admin] >> text=active`);
    expect((await gpuq.client.node(node.id)).node.adminState).toBe('active');
    expect(await page.locator(`${card} [data-testid=device-row]`).count()).toBe(2);
    await screenshot(page, 'nodes');
  });

  it('toggles maintenance mode with a confirmation, and the audit log records it', async () => {
    await page.getByTestId('nav-maintenance').click();
    await page.waitForSelector('[data-testid=mode][data-mode=normal]');
    // The one replica alive is this server, and it leads.
    const replicas = await page.waitForSelector('[data-testid=replicas] tbody tr');
    expect(await replicas.textContent()).toMatch(/leader$/);
    await page.getByTestId('set-drain').click();
    // Nothing changes until the operator confirms.
    await page.waitForSelector('[data-testid=confirm]');
    expect((await gpuq.client.request<{ mode: string }>('GET', '/v1/control/maintenance')).mode).toBe('normal');
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=mode][data-mode=drain]');
    await page.waitForSelector('[data-testid=drain-flag]');
    expect((await gpuq.client.request<{ mode: string }>('GET', '/v1/control/maintenance')).mode).toBe('drain');
    await expect(gpuq.client.submit({ type: 'noop' })).rejects.toMatchObject({ status: 503 });
    await page.waitForSelector('[data-testid=audit-row][data-action="control.maintenance"]');
    await screenshot(page, 'maintenance');

    await page.getByTestId('set-normal').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=mode][data-mode=normal]');
    await page.waitForSelector('[data-testid=drain-flag]', { state: 'detached' });
    expect((await gpuq.client.request<{ mode: string }>('GET', '/v1/control/maintenance')).mode).toBe('normal');
    const audit = await gpuq.client.audit({ action: 'control.maintenance' });
    expect(audit.entries.map((e) => [e.target, e.outcome, e.actor])).toEqual([['normal', 'ok', 'local'], ['drain', 'ok', 'local']]);
    expect(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded)).toBe(true);
  });
});
