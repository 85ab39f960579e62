import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuqClient } from '../src/sdk/client.js';
import { launchBrowser, screenshot, type TestBrowser } from './helpers/browser.js';
import { leakedServers, runCli, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * The dashboard with auth on (`gpuq up --auth required`): its own files need no token (they hold no data), every
 * API call does; the login form takes a token and keeps it for the browser session; a viewer sees everything and
 * may do nothing, each refused button saying why.
 */

/** The browser's globals that callbacks run in the page (page.evaluate) read. */
declare const sessionStorage: { getItem(key: string): string | null };

let gpuq: GpuqProcess;
let browser: TestBrowser;
let admin: GpuqClient;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  const dataDir = tempDir();
  gpuq = await startGpuq({ dataDir, fakeGpus: 2, args: ['--auth', 'required'] });
  const boot = await runCli(['token', 'create', '--role', 'admin', '--name', 'root', '--data-dir', dataDir, '--json']);
  expect(boot.code, boot.stderr).toBe(0);
  tokens.admin = (JSON.parse(boot.stdout) as { token: string }).token;
  admin = new GpuqClient(gpuq.url, { token: tokens.admin });
  tokens.viewer = (await admin.createToken('watcher', 'viewer')).token;
  tokens.alice = (await admin.createToken('alice', 'submitter')).token;
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await gpuq?.stop();
  expect(leakedServers()).toBe(0);
});

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${gpuq.url}/ui/`);
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('sign-in').click();
  await page.waitForSelector('[data-testid=who] [data-testid=role]');
}

describe('the dashboard with auth required', () => {
  it('serves its own files without a token, with their content types and cache headers, and nothing else', async () => {
    const root = await fetch(`${gpuq.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/ui/');
    const index = await fetch(`${gpuq.url}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const [script] = /\/ui\/assets\/app-[A-Z0-9]+\.js/.exec(html) ?? [];
    const [style] = /\/ui\/assets\/app-[A-Z0-9]+\.css/.exec(html) ?? [];
    expect(script, html).toBeDefined();
    expect(style, html).toBeDefined();
    const js = await fetch(gpuq.url + script!, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-encoding')).toBe('gzip');
    const css = await fetch(gpuq.url + style!);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    // A page of the dashboard is index.html (it routes in the browser); revalidation answers 304.
    const deep = await fetch(`${gpuq.url}/ui/jobs/42`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toBe(html);
    expect((await fetch(`${gpuq.url}/ui/`, { headers: { 'if-none-match': index.headers.get('etag')! } })).status).toBe(304);
    // A file that is not there is a 404; the API behind the dashboard still wants a token.
    expect((await fetch(`${gpuq.url}/ui/assets/app-NOPE.js`)).status).toBe(404);
    expect((await fetch(`${gpuq.url}/v1/jobs`)).status).toBe(401);
    expect((await fetch(`${gpuq.url}/v1/whoami`)).status).toBe(401);
  });

  it('answers GET /v1/whoami with the token\'s name, role and actions', async () => {
    const me = await new GpuqClient(gpuq.url, { token: tokens.viewer }).whoami();
    expect(me).toMatchObject({ name: 'watcher', role: 'viewer', auth: 'required' });
    expect(me.actions).toContain('jobs.read');
    expect(me.actions).not.toContain('jobs.submit');
    expect((await admin.whoami()).actions).toContain('tokens.manage');
  });

  it('asks for a token, refuses a wrong one, and keeps a good one for the browser session', async () => {
    const page = await browser.page();
    await page.goto(`${gpuq.url}/ui/`);
    await page.waitForSelector('[data-testid=login-form]');
    await screenshot(page, 'login');
    await page.getByTestId('token-input').fill('gpuq_not-a-real-token-0000000000000000');
    await page.getByTestId('sign-in').click();
    await page.waitForSelector('[data-testid=login-form] [role=alert]');
    expect(await page.innerText('[data-testid=login-form] [role=alert]')).toContain('refused');

    await signIn(page, tokens.viewer!);
    expect(await page.innerText('[data-testid=who]')).toContain('watcher');
    expect(await page.innerText('[data-testid=role]')).toBe('viewer');
    expect(await page.evaluate(() => sessionStorage.getItem('gpuq.token'))).toBe(tokens.viewer);
    await page.waitForSelector('[data-testid=live-status][data-status=live]');
    // A reload keeps the session; signing out forgets the token.
    await page.reload();
    await page.waitForSelector('[data-testid=role]');
    await page.getByTestId('sign-out').click();
    await page.waitForSelector('[data-testid=login-form]');
    expect(await page.evaluate(() => sessionStorage.getItem('gpuq.token'))).toBeNull();
    await page.close();
  });

  it('shows a viewer the jobs and disables what the role may not do, saying why', async () => {
    const { job } = await admin.submit({ name: 'admins-job', gpus: 1, shell: 'sleep 60' });
    const page = await browser.page();
    await signIn(page, tokens.viewer!);
    await page.goto(`${gpuq.url}/ui/jobs/${job.id}`);
    await page.waitForSelector(`[data-testid=job-page][data-job-id="${job.id}"]`);
    const cancel = page.getByTestId('cancel-job');
    expect(await cancel.isDisabled()).toBe(true);
    expect(await cancel.getAttribute('title')).toMatch(/jobs\.cancel\.any needs the operator or admin role; token "watcher" has the role viewer/);
    expect(await page.getByTestId('replay-job').isDisabled()).toBe(true);
    await screenshot(page, 'job-as-viewer');

    await page.getByTestId('nav-jobs').click();
    await page.waitForSelector(`[data-testid=job-row][data-job-id="${job.id}"]`);
    expect(await page.getByTestId('new-job').getAttribute('title')).toContain('jobs.submit needs the submitter, operator or admin role');
    await page.getByTestId('nav-maintenance').click();
    await page.waitForSelector('[data-testid=mode]');
    expect(await page.getByTestId('set-drain').isDisabled()).toBe(true);
    expect(await page.innerText('[data-testid=audit-refused]')).toContain('audit.read needs the operator or admin role');
    await page.getByTestId('nav-nodes').click();
    await page.waitForSelector('[data-testid=node-cordon]');
    expect(await page.getByTestId('node-cordon').isDisabled()).toBe(true);
    await page.close();
    await admin.cancel(job.id);
  });

  it('lets a submitter cancel its own job, and not another token\'s', async () => {
    const alice = new GpuqClient(gpuq.url, { token: tokens.alice! });
    const own = (await alice.submit({ name: 'alices-job', shell: 'sleep 60' })).job;
    const other = (await admin.submit({ name: 'not-alices', shell: 'sleep 60' })).job;
    const page = await browser.page();
    await signIn(page, tokens.alice!);
    await page.goto(`${gpuq.url}/ui/jobs/${other.id}`);
    await page.waitForSelector(`[data-testid=job-page][data-job-id="${other.id}"]`);
    expect(await page.getByTestId('cancel-job').getAttribute('title')).toContain('this job belongs to token "root"');
    await page.goto(`${gpuq.url}/ui/jobs/${own.id}`);
    await page.waitForSelector(`[data-testid=job-page][data-job-id="${own.id}"]`);
    await page.getByTestId('cancel-job').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=job-page][data-state=cancelled]');
    expect((await admin.get(own.id)).job.state).toBe('cancelled');
    expect((await admin.get(other.id)).job.state).not.toBe('cancelled');
    await page.close();
    await admin.cancel(other.id);
  });

  it('sends a signed-in tab back to the login form when its token is revoked', async () => {
    const { token, id } = await admin.createToken('short-lived', 'viewer');
    const page = await browser.page();
    await signIn(page, token);
    await page.waitForSelector('[data-testid=gpu-tile]');
    await admin.revokeToken(id);
    // The next API call (the overview reads the GPUs' telemetry every 5 s) is refused: the session ends.
    await page.waitForSelector('[data-testid=login-form]', { timeout: 15_000 });
    expect(await page.innerText('[data-testid=login-form]')).toContain('refused the token');
    expect(await page.evaluate(() => sessionStorage.getItem('gpuq.token'))).toBeNull();
    await page.close();
  });
});
