import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { PoolTask } from '../src/sdk/client.js';
import { launchBrowser, screenshot, type TestBrowser } from './helpers/browser.js';
import { isAlive, leakedServers, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * The dashboard's pool pages end to end: a real `gpuq up --fake-gpus 2`, a pool of the fixture worker (a Node
 * script speaking the pool protocol) created and fed through the SDK, and a real headless Chromium that sees
 * its replica, throughput and cold start arrive without a reload, and stops, starts and evicts it.
 */

/** Loads for MODEL_LOAD_MS, then answers {"op":"square","x":N} with {"y":N*N,"pid":<its pid>}. */
const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/pools/model-worker.mjs');
const MODEL_LOAD_MS = 300;

/** The browser's globals that callbacks run in the page (page.waitForFunction) read. */
declare const document: { querySelector(selector: string): { getAttribute(name: string): string | null } | null };

let gpuq: GpuqProcess | null = null;
let browser: TestBrowser | null = null;

afterEach(async () => {
  // Closing the browser fails the test when a page raised an error in it.
  const b = browser;
  browser = null;
  try {
    await b?.close();
  } finally {
    await gpuq?.stop();
    gpuq = null;
    expect(leakedServers()).toBe(0);
  }
});

async function start(): Promise<{ server: GpuqProcess; page: Page }> {
  gpuq = await startGpuq({ fakeGpus: 2 });
  browser = await launchBrowser();
  return { server: gpuq, page: await browser.page() };
}

async function createPool(server: GpuqProcess, name: string): Promise<void> {
  await server.client.createPool({ name, command: [process.execPath, WORKER], env: { MODEL_LOAD_MS: String(MODEL_LOAD_MS) }, gpus: 1, maxReplicas: 2 });
}

/** Sends squares of xs and waits for their results; answers the worker pids that computed them. */
async function squares(server: GpuqProcess, name: string, xs: number[]): Promise<number[]> {
  const { tasks } = await server.client.submitTasks(name, xs.map((x) => ({ payload: { op: 'square', x } })), { wait: 60 });
  expect(tasks.map((t: PoolTask) => t.state)).toEqual(xs.map(() => 'succeeded'));
  expect(tasks.map((t) => (t.result as { y: number }).y)).toEqual(xs.map((x) => x * x));
  return tasks.map((t) => (t.result as { pid: number }).pid);
}

/** Waits until a numeric data attribute of the element at `selector` satisfies `min` < value. */
function waitForAbove(page: Page, selector: string, attribute: string, min: number) {
  return page.waitForFunction(
    ([sel, attr, least]) => {
      const v = document.querySelector(sel)?.getAttribute(attr);
      return v !== null && v !== undefined && v !== '' && Number(v) > least;
    },
    [selector, attribute, min] as const,
  );
}

const poolRow = (name: string) => `[data-testid=pool-row][data-pool="${name}"]`;

describe('the dashboard\'s pool pages (auth off, 2 simulated GPUs)', () => {
  it('lists a pool live, with its warm replica, tasks/s and cold start, and shows the replica\'s node and GPU on its page', async () => {
    const { server, page } = await start();
    await page.goto(`${server.url}/ui/`);
    await page.getByTestId('nav-pools').click();
    await page.waitForSelector('[data-testid=pools-empty]');
    await page.evaluate(() => void ((globalThis as { notReloaded?: boolean }).notReloaded = true));

    // Created through the SDK: the list shows it from its pool.created event.
    await createPool(server, 'squares');
    await page.waitForSelector(`${poolRow('squares')}[data-state=active]`);
    const pids = await squares(server, 'squares', [1, 2, 3, 4]);
    expect(new Set(pids).size).toBe(1);

    // A replica is ready, tasks/s over the last minute and the cold start (accepted → result) come in without a reload.
    await waitForAbove(page, `${poolRow('squares')} [data-testid=pool-replicas]`, 'data-ready', 0);
    await waitForAbove(page, `${poolRow('squares')} [data-testid=pool-throughput]`, 'data-value', 0);
    await waitForAbove(page, `${poolRow('squares')} [data-testid=pool-cold-start]`, 'data-value', 0);
    const { pool } = await server.client.getPool('squares');
    expect(pool.coldStart).not.toBeNull();
    const coldMs = pool.coldStart!.resultAt - pool.coldStart!.acceptedAt;
    expect(coldMs).toBeGreaterThanOrEqual(MODEL_LOAD_MS);
    // Each of the four tasks found no ready replica: the page shows the latest cold start once its next refresh reads it.
    await expect.poll(async () => Number(await page.getAttribute(`${poolRow('squares')} [data-testid=pool-cold-start]`, 'data-value')), { timeout: 10_000 }).toBe(coldMs);
    expect(await page.innerText(`${poolRow('squares')} [data-testid=pool-gpus]`)).toBe('1');
    expect(await page.innerText(`${poolRow('squares')} [data-testid=pool-replicas]`)).toContain('(max 2)');
    await screenshot(page, 'pools');

    // Its page: the definition, and the replica with its node and GPU, linking to its job.
    await page.click(`${poolRow('squares')} [data-testid=pool-link]`);
    await page.waitForSelector('[data-testid=pool-page][data-pool=squares]');
    const replica = pool.replicas.find((r) => r.state === 'ready')!;
    expect(replica).toBeDefined();
    const row = `[data-testid=replica-row][data-job-id="${replica.jobId}"]`;
    await page.waitForSelector(`${row}[data-state=ready]`);
    const node = (await server.client.nodes()).nodes[0]!;
    expect(replica.nodeId).toBe(node.id);
    expect(replica.devices).toHaveLength(1);
    expect(await page.innerText(`${row} [data-testid=replica-node]`)).toBe(node.id);
    expect(await page.innerText(`${row} [data-testid=replica-gpus]`)).toBe(String(replica.devices[0]));
    expect(await page.getAttribute(`${row} a`, 'href')).toBe(`/ui/jobs/${replica.jobId}`);
    expect(Number(await page.innerText(`${row} [data-testid=replica-tasks]`))).toBe(4);
    expect(await page.innerText('[data-testid=pool-command]')).toContain(WORKER);
    expect(await page.innerText('[data-testid=pool-min-max]')).toBe('min 0, max 2');
    expect(await page.innerText('[data-testid=pool-cold-start]')).toMatch(/accepted → replica ready .+ → result /);
    await screenshot(page, 'pool');

    // Stop all pools from the list, after a confirmation.
    await page.getByTestId('nav-pools').click();
    await page.getByTestId('stop-all-pools').click();
    await page.waitForSelector('[data-testid=confirm]');
    expect((await server.client.getPool('squares')).pool.state).toBe('active');
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector(`${poolRow('squares')}[data-state=stopped]`);
    expect((await server.client.getPool('squares')).pool.state).toBe('stopped');
    expect(await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded)).toBe(true);
  });

  it('stops a pool from its page (its replica ends, its worker exits), starts it again, and evicts it with a reason', async () => {
    const { server, page } = await start();
    await createPool(server, 'squares');
    const [pid] = await squares(server, 'squares', [5]);
    const first = (await server.client.getPool('squares')).pool.replicas.find((r) => r.state === 'ready')!;
    expect(first).toBeDefined();

    await page.goto(`${server.url}/ui/pools/squares`);
    await page.waitForSelector(`[data-testid=replica-row][data-job-id="${first.jobId}"][data-state=ready]`);
    await page.getByTestId('pool-stop').click();
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=pool-page][data-state=stopped]');
    // Graceful: the replica finishes, its worker exits, and the replica shows ended, stopped.
    const ended = `[data-testid=replica-row][data-job-id="${first.jobId}"][data-state=ended]`;
    await page.waitForSelector(ended, { timeout: 30_000 });
    expect(await page.innerText(`${ended} [data-testid=replica-end]`)).toContain('stopped');
    await until('the stopped replica\'s worker to exit', () => !isAlive(pid!), 10_000);
    const stopped = (await server.client.getPool('squares')).pool;
    expect(stopped.state).toBe('stopped');
    expect(stopped.replicas.find((r) => r.jobId === first.jobId)).toMatchObject({ state: 'ended', endReason: 'stopped' });
    expect((await server.client.get(first.jobId)).job.state).toBe('succeeded');
    await screenshot(page, 'pool-stopped');

    // Start it again: a task brings a fresh replica, which the page shows live.
    await page.getByTestId('pool-start').click();
    await page.waitForSelector('[data-testid=pool-page][data-state=active]');
    const [pid2] = await squares(server, 'squares', [6]);
    const second = (await server.client.getPool('squares')).pool.replicas.find((r) => r.state === 'ready')!;
    expect(second.jobId).not.toBe(first.jobId);
    const secondRow = `[data-testid=replica-row][data-job-id="${second.jobId}"]`;
    await page.waitForSelector(`${secondRow}[data-state=ready]`);

    // Evict, with a reason typed into the confirmation: the pool stops and the replica is killed now.
    await page.getByTestId('pool-evict').click();
    await page.getByTestId('evict-reason').fill('driver update');
    await page.getByTestId('confirm-yes').click();
    await page.waitForSelector('[data-testid=pool-page][data-state=stopped]');
    await page.waitForSelector(`${secondRow}[data-state=ended]`, { timeout: 30_000 });
    expect(await page.innerText(`${secondRow} [data-testid=replica-end]`)).toContain('evicted: driver update');
    await until('the evicted replica\'s worker to exit', () => !isAlive(pid2!), 10_000);
    expect((await server.client.get(second.jobId)).job.state).toBe('cancelled');
    const audit = await server.client.audit({ action: 'pools.evict' });
    expect(audit.entries.map((e) => [e.target, e.outcome, e.detail])).toEqual([['pool squares', 'ok', 'driver update']]);
  });
});
