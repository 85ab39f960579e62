#!/usr/bin/env node
// Dashboard benchmark: first meaningful paint of the overview and jobs pages over a store of 100,000 jobs, in a
// real headless Chromium (/usr/bin/chromium) against a real `gpuq up --fake-gpus 2`.
// Run: npm run bench:dashboard (or node bench/dashboard.mjs [--runs N] [--database-url URL]).
//
// First meaningful paint: the time from navigation start until the page has put what it is for on screen,
// marked by the page itself with performance.mark() right after that render (web/src/pages/overview.tsx:
// `gpuq:overview-counts`, the job counts; web/src/pages/jobs.tsx: `gpuq:jobs-rows`, the first page of rows).
// Each page is loaded RUNS times in a new tab: the first load of each page is cold (no cached assets), the
// others warm, as an operator who keeps the dashboard open sees it. Also docs/dashboard.png, the README's
// screenshot: the overview with both simulated GPUs busy.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { api, percentile, printTable, record, ROOT, startGpuq, STORE } from './lib.mjs';

const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 7;
const NOOPS = 100_000;
const BUDGET_MS = 1000;
const QUEUES = ['etl', 'train', 'eval'];
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

async function seed(url) {
  const t0 = performance.now();
  for (let i = 0; i < NOOPS; i += 5000) {
    await api(url, 'POST', '/v1/jobs', { jobs: Array.from({ length: Math.min(5000, NOOPS - i) }, (_, k) => ({ type: 'noop', name: `seed-${i + k}`, queue: QUEUES[(i + k) % 3], priority: (i + k) % 5, labels: { batch: String((i + k) % 10) } })) });
  }
  for (;;) {
    if ((await api(url, 'GET', '/v1/jobs?state=queued,assigned,running&limit=1')).jobs.length === 0) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  await api(url, 'POST', '/v1/jobs', { jobs: Array.from({ length: 20 }, (_, i) => ({ name: `broken-${i}`, queue: 'etl', maxAttempts: 1, shell: 'echo "no input" >&2; exit 3' })) });
  await api(url, 'POST', '/v1/jobs', { jobs: Array.from({ length: 32 }, (_, i) => ({ name: `train-${i}`, queue: 'train', gpus: 1, shell: 'sleep 600' })) });
  for (;;) {
    const [dlq, running] = await Promise.all([api(url, 'GET', '/v1/dlq?limit=100'), api(url, 'GET', '/v1/jobs?state=running&limit=10')]);
    if (dlq.jobs.length === 20 && running.jobs.length === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return (performance.now() - t0) / 1000;
}

/** Loads `path` in a new tab and reads the page's mark and the API request it waited for. */
async function measure(context, url, pagePath, mark, apiPath) {
  const page = await context.newPage();
  try {
    await page.goto(url + pagePath);
    await page.waitForFunction((m) => performance.getEntriesByName(m).length > 0, mark, { timeout: 30_000 });
    return await page.evaluate(
      ({ m, a }) => {
        const nav = performance.getEntriesByType('navigation')[0];
        const req = performance.getEntriesByType('resource').find((r) => new URL(r.name).pathname + new URL(r.name).search === a || new URL(r.name).pathname === a);
        return { paintMs: performance.getEntriesByName(m)[0].startTime, domContentLoadedMs: nav?.domContentLoadedEventEnd ?? null, apiMs: req ? req.responseEnd - req.requestStart : null };
      },
      { m: mark, a: apiPath },
    );
  } finally {
    await page.close();
  }
}

const g = await startGpuq(['--fake-gpus', '2']);
const profile = mkdtempSync(path.join(os.tmpdir(), 'gpuq-bench-chromium-'));
let context;
try {
  console.error(`seeding ${NOOPS} jobs…`);
  const seedSeconds = await seed(g.url);
  const counts = await api(g.url, 'GET', '/v1/jobs/counts');
  console.error(`seeded in ${seedSeconds.toFixed(1)} s: ${counts.total} jobs`);
  context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ARGS, viewport: { width: 1440, height: 1000 } });

  const pages = [
    { name: 'overview', path: '/ui/', mark: 'gpuq:overview-counts', api: '/v1/jobs/counts', what: 'job counts painted' },
    { name: 'jobs', path: '/ui/jobs', mark: 'gpuq:jobs-rows', api: '/v1/jobs', what: 'first 50 rows painted' },
  ];
  const rows = [];
  const results = { jobs: counts.total, store: STORE, seedSeconds, runs: RUNS, budgetMs: BUDGET_MS, pages: {} };
  for (const p of pages) {
    const runs = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(context, g.url, p.path, p.mark, p.api));
    const warm = runs.slice(1).map((r) => r.paintMs).sort((a, b) => a - b);
    const apiWarm = runs.slice(1).map((r) => r.apiMs).filter((x) => x !== null).sort((a, b) => a - b);
    results.pages[p.name] = { cold: runs[0], warmMedianMs: percentile(warm, 50), warmMaxMs: warm.at(-1), apiMedianMs: percentile(apiWarm, 50), runs };
    rows.push({
      page: `${p.name} (${p.what})`,
      'cold load': `${runs[0].paintMs.toFixed(0)} ms`,
      [`warm, median of ${RUNS - 1}`]: `${percentile(warm, 50).toFixed(0)} ms`,
      'warm, max': `${warm.at(-1).toFixed(0)} ms`,
      'its API call, warm median': `${p.api}: ${percentile(apiWarm, 50).toFixed(1)} ms`,
      budget: `< ${BUDGET_MS} ms`,
    });
  }
  console.log(`\n${counts.total.toLocaleString('en-US')} jobs in the store (${STORE}), ${RUNS} loads of each page in headless Chromium:\n`);
  const table = printTable(rows);
  const over = rows.filter((_, i) => Math.max(results.pages[pages[i].name].cold.paintMs, results.pages[pages[i].name].warmMaxMs) >= BUDGET_MS);
  if (over.length > 0) console.error(`\nover budget: ${over.map((r) => r.page).join(', ')}`);

  // The README's screenshot: the overview, both simulated GPUs busy, after a few telemetry samples.
  const shot = await context.newPage();
  await shot.goto(`${g.url}/ui/`);
  await shot.waitForSelector('[data-testid=gpu-tile][data-busy=true]');
  await shot.waitForTimeout(12_000);
  await shot.screenshot({ path: path.join(ROOT, 'docs/dashboard.png') });
  await shot.close();
  console.error('docs/dashboard.png written');

  record('dashboard', `npm run bench:dashboard${STORE === 'postgres' ? ' -- --database-url …' : ''}`, table, results);
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  await g.stop();
}
