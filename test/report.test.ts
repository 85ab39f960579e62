import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import type { SloReport, SloThresholds } from '../src/core/slo-report.js';
import type { Job } from '../src/core/types.js';
import type { JobDetail } from '../src/sdk/client.js';
import { CLI, leakedServers, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * The SLO report end to end: a real `gpuq up --fake-gpus` runs a known mix of jobs (succeeded, failed
 * into the DLQ, retried and then succeeded, cancelled, queued, running, in two queues, with scripted
 * simulated GPU load), and every figure of GET /v1/report is checked against what the API reports of
 * the same jobs: their attempts' times and GPU figures, their transitions. Then the server restarts
 * and reports the same range the same way (the report is computed from the store).
 */

const exec = promisify(execFile);
const fast = { initialSeconds: 0.05, maxSeconds: 0.2, multiplier: 2 };
/** Objectives given to `gpuq up`, chosen so that some lines are met and some breached (asserted from the figures below). */
const SLO: SloThresholds = { successPct: 90, queueWaitP95Seconds: 30, gpuUtilizationMinPct: 0.001, gpuUtilizationMaxPct: 50 };
const sloArgs = ['--slo-success-pct', String(SLO.successPct), '--slo-queue-wait-p95-seconds', String(SLO.queueWaitP95Seconds), '--slo-gpu-utilization-min-pct', String(SLO.gpuUtilizationMinPct), '--slo-gpu-utilization-max-pct', String(SLO.gpuUtilizationMaxPct)];
const serverArgs = [...sloArgs, '--telemetry-seconds', '0.2'];

let gpuq: GpuqProcess;
let dataDir: string;
let since: string;
let ids: Record<string, number>;

beforeAll(async () => {
  dataDir = tempDir();
  since = new Date(Date.now() - 1000).toISOString();
  gpuq = await startGpuq({ dataDir, fakeGpus: 2, args: serverArgs });
  const c = gpuq.client;
  const submit = async (spec: Parameters<typeof c.submit>[0]) => (await c.submit(spec)).job.id;
  const blocker = await submit({ name: 'blocker', queue: 'other', shell: 'sleep 60' });
  ids = {
    blocker,
    ok: await submit({ name: 'ok-gpu', gpus: 1, shell: 'sleep 1', env: { GPUQ_FAKE_GPU_UTILIZATION: '80:0.5,20' } }),
    quick: await submit({ name: 'ok-quick', shell: 'true' }),
    retried: await submit({ name: 'retried', gpus: 2, shell: '[ "$GPUQ_ATTEMPT" -ge 2 ] || exit 3; sleep 0.6', maxAttempts: 3, backoff: fast, env: { GPUQ_FAKE_GPU_UTILIZATION: '60' } }),
    failed: await submit({ name: 'failed', shell: 'exit 1', maxAttempts: 2, backoff: fast }),
    other: await submit({ name: 'other-gpu', queue: 'other', gpus: 1, shell: 'sleep 0.6', env: { GPUQ_FAKE_GPU_UTILIZATION: '3' } }),
    queued1: await submit({ name: 'waits-1', dependsOn: [blocker], type: 'noop' }),
    queued2: await submit({ name: 'waits-2', dependsOn: [blocker], type: 'noop' }),
    cancelled: await submit({ name: 'cancelled', dependsOn: [blocker], type: 'noop' }),
  };
  await c.cancel(ids.cancelled!, 'not needed');
  const done = await waitForJobs(c, [ids.ok!, ids.quick!, ids.retried!, ids.failed!, ids.other!], Date.now() + 60_000);
  expect(done.timedOut).toBe(false);
  // The blocker runs on: the jobs waiting for it stay queued.
  expect((await c.get(blocker)).job.state).toBe('running');
}, 90_000);

afterAll(async () => {
  await gpuq?.stop();
  expect(leakedServers()).toBe(0);
});

/** Reads every job of the test back and works out the report's figures over [since, until) from them. */
async function expectedFigures(report: SloReport, queue: string | null) {
  const all: JobDetail[] = await Promise.all(Object.values(ids).map((id) => gpuq.client.get(id)));
  const details = all.filter((d) => queue === null || d.job.queue === queue);
  const inRange = (t: number | null | undefined): t is number => t !== null && t !== undefined && t >= report.since && t < report.until;
  const nearestRank = (values: number[], p: number) => {
    if (values.length === 0) return null;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
  };
  const finished = (state: Job['state']) => details.filter((d) => d.job.state === state && inRange(d.job.finishedAt));
  const succeeded = finished('succeeded');
  const failed = finished('failed');
  const waits = details.filter((d) => inRange(d.job.startedAt)).map((d) => (d.job.startedAt! - d.job.createdAt) / 1000);
  const ended = details.flatMap((d) => d.attempts.map((a) => ({ ...a, queue: d.job.queue, owner: d.job.owner }))).filter((a) => inRange(a.endedAt) && a.startedAt !== null);
  const runs = ended.map((a) => (a.endedAt! - a.startedAt!) / 1000);
  const usage = ended.flatMap((a) => a.gpuUsage.map((u) => ({ ...u, queue: a.queue, owner: a.owner })));
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
  const utilizationSeconds = sum(usage.map((u) => u.gpuSeconds * (u.meanUtilizationPct ?? 0)));
  const sampled = sum(usage.filter((u) => u.meanUtilizationPct !== null).map((u) => u.gpuSeconds));
  const { nodes } = await gpuq.client.nodes();
  const capacity = sum(nodes.map((n) => n.devices.length));
  const byKey = (key: (u: (typeof usage)[number]) => string) => {
    const out: Record<string, number> = {};
    for (const u of usage) out[key(u)] = (out[key(u)] ?? 0) + u.gpuSeconds / 3600;
    return out;
  };
  return {
    jobs: {
      succeeded: succeeded.length,
      failed: failed.length,
      cancelled: finished('cancelled').length,
      retried: details.filter((d) => d.attempts.some((a) => a.number >= 2 && inRange(a.assignedAt))).length,
      queuedNow: details.filter((d) => d.job.state === 'queued').length,
      runningNow: details.filter((d) => d.job.state === 'running' || d.job.state === 'assigned').length,
    },
    successRate: succeeded.length + failed.length > 0 ? (100 * succeeded.length) / (succeeded.length + failed.length) : null,
    attemptsPerJob: sum([...succeeded, ...failed].map((d) => d.job.attempts)) / (succeeded.length + failed.length),
    queueWaitSeconds: { count: waits.length, sampled: waits.length, p50: nearestRank(waits, 50), p95: nearestRank(waits, 95), p99: nearestRank(waits, 99) },
    runSeconds: { count: runs.length, sampled: runs.length, p50: nearestRank(runs, 50), p95: nearestRank(runs, 95) },
    dlqInflow: details.filter((d) => d.events.some((e) => e.to === 'failed' && inRange(e.at))).length,
    gpuHours: sum(usage.map((u) => u.gpuSeconds)) / 3600,
    idleGpuHours: sum(usage.map((u) => u.idleSeconds)) / 3600,
    meanOverRunning: sampled > 0 ? utilizationSeconds / sampled : null,
    meanOverAll: utilizationSeconds / ((capacity * (report.until - report.since)) / 1000),
    gpuHoursByQueue: byKey((u) => u.queue),
    gpuHoursByOwner: byKey((u) => u.owner ?? 'local'),
    capacity,
  };
}

function expectReportMatches(report: SloReport, want: Awaited<ReturnType<typeof expectedFigures>>) {
  expect(report.jobs).toEqual(want.jobs);
  expect(report.successRate).toBeCloseTo(want.successRate!, 9);
  expect(report.attemptsPerJob).toBeCloseTo(want.attemptsPerJob, 9);
  expect([report.queueWaitSeconds.count, report.queueWaitSeconds.sampled, report.runSeconds.count, report.runSeconds.sampled]).toEqual([want.queueWaitSeconds.count, want.queueWaitSeconds.sampled, want.runSeconds.count, want.runSeconds.sampled]);
  for (const p of ['p50', 'p95', 'p99'] as const) expect(report.queueWaitSeconds[p]).toBeCloseTo(want.queueWaitSeconds[p]!, 6);
  for (const p of ['p50', 'p95'] as const) expect(report.runSeconds[p]).toBeCloseTo(want.runSeconds[p]!, 6);
  expect(report.dlqInflow).toBe(want.dlqInflow);
  expect(report.gpus).toEqual({ capacity: want.capacity, simulated: true });
  expect(report.gpuHours).toBeCloseTo(want.gpuHours, 9);
  expect(report.idleGpuHours).toBeCloseTo(want.idleGpuHours, 9);
  expect(report.gpuUtilization.meanOverRunning).toBeCloseTo(want.meanOverRunning!, 6);
  expect(report.gpuUtilization.meanOverAll).toBeCloseTo(want.meanOverAll, 9);
  expect(Object.keys(report.gpuHoursByQueue).sort()).toEqual(Object.keys(want.gpuHoursByQueue).sort());
  for (const [q, h] of Object.entries(want.gpuHoursByQueue)) expect(report.gpuHoursByQueue[q]).toBeCloseTo(h, 9);
  expect(Object.keys(report.gpuHoursByOwner).sort()).toEqual(Object.keys(want.gpuHoursByOwner).sort());
  for (const [o, h] of Object.entries(want.gpuHoursByOwner)) expect(report.gpuHoursByOwner[o]).toBeCloseTo(h, 9);
}

describe('GET /v1/report', () => {
  it('reports every figure of a known mix of jobs as the jobs themselves show it', async () => {
    const report = await gpuq.client.report({ since });
    expect(report.since).toBe(Date.parse(since));
    expect(report.queue).toBeNull();
    const want = await expectedFigures(report, null);
    // The mix is what the test meant it to be: ok-gpu, ok-quick, retried, other-gpu succeeded; failed failed (into the DLQ,
    // after a retry); cancelled cancelled; two queued; the blocker running.
    expect(want.jobs).toEqual({ succeeded: 4, failed: 1, cancelled: 1, retried: 2, queuedNow: 2, runningNow: 1 });
    expect(want.gpuHours).toBeGreaterThan(0);
    expect(want.meanOverRunning).toBeGreaterThan(0);
    expect(want.idleGpuHours).toBeGreaterThanOrEqual(0);
    expectReportMatches(report, want);

    // Each objective is judged against the thresholds given to gpuq up.
    expect(report.thresholds).toEqual(SLO);
    const line = (key: string) => report.lines.find((l) => l.key === key)!;
    const judged = (v: number, min: number | null, max: number | null) => ((min === null || v >= min) && (max === null || v <= max) ? 'ok' : 'breached');
    expect(line('success_rate')).toMatchObject({ value: report.successRate, status: judged(want.successRate!, SLO.successPct, null), threshold: { min: SLO.successPct, max: null } });
    expect(line('queue_wait_p95')).toMatchObject({ value: report.queueWaitSeconds.p95, status: judged(want.queueWaitSeconds.p95!, null, SLO.queueWaitP95Seconds) });
    expect(line('gpu_utilization_all')).toMatchObject({ value: report.gpuUtilization.meanOverAll, status: judged(want.meanOverAll, SLO.gpuUtilizationMinPct, SLO.gpuUtilizationMaxPct) });
    expect(line('jobs_retried')).toMatchObject({ value: want.jobs.retried, status: 'n/a', threshold: null });
    expect(line('dlq_inflow').value).toBe(want.dlqInflow);
    // The objectives were chosen so that the mix meets some and breaches others (4 of 5 finished jobs succeeded: 80 % < 90 %).
    expect(new Set(report.lines.filter((l) => l.threshold !== null).map((l) => l.status))).toEqual(new Set(['ok', 'breached']));
  });

  it('reports one queue', async () => {
    const report = await gpuq.client.report({ since, queue: 'other' });
    expect(report.queue).toBe('other');
    const want = await expectedFigures(report, 'other');
    expect(want.jobs).toEqual({ succeeded: 1, failed: 0, cancelled: 0, retried: 0, queuedNow: 0, runningNow: 1 });
    expectReportMatches(report, want);
    expect(Object.keys(report.gpuHoursByQueue)).toEqual(['other']);
  });

  it('prints the report as a table with each objective ok or BREACHED, or as JSON', async () => {
    const env = { ...process.env, GPUQ_URL: gpuq.url };
    const { stdout } = await exec(process.execPath, [CLI, 'report', '--since', since], { env });
    const api = await gpuq.client.report({ since });
    expect(stdout).toContain('[SIMULATED]');
    expect(stdout).toContain('queue: all');
    for (const l of api.lines.filter((x) => x.threshold !== null)) {
      const row = stdout.split('\n').find((r) => r.startsWith(l.label));
      expect(row, l.label).toBeDefined();
      expect(row).toContain(l.threshold!.text);
      expect(row!.trimEnd().endsWith(l.status === 'breached' ? 'BREACHED' : l.status)).toBe(true);
    }
    expect(stdout).toMatch(/GPU-hours by queue: .*default/);

    const json = JSON.parse((await exec(process.execPath, [CLI, 'report', '--since', since, '--queue', 'other', '--json'], { env })).stdout) as SloReport;
    expect(json.queue).toBe('other');
    expect(json.jobs).toEqual((await gpuq.client.report({ since, queue: 'other' })).jobs);

    const breached = api.lines.some((l) => l.status === 'breached');
    const gate = await exec(process.execPath, [CLI, 'report', '--since', since, '--fail-on-breach'], { env }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    expect(gate).toBe(breached ? 1 : 0);
  });

  it('refuses bad parameters with a 400 naming each', async () => {
    const cases: [string, string, RegExp][] = [
      ['since=yesterday', 'since', /duration|ISO/],
      ['since=2025-01-30T09:00:00', 'since', /time zone/],
      ['until=soon', 'until', /duration|ISO/],
      ['since=1h&until=2h', 'since', /before until/],
      ['since=2999-01-01', 'since', /before until/],
      ['queue=Not%20A%20Queue', 'queue', /queue name/],
      ['since=1h&since=2h', 'since', /string/i],
      ['window=1h', '', /window/],
    ];
    for (const [query, param, message] of cases) {
      const res = await fetch(`${gpuq.url}/v1/report?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; issues: { path: string; message: string }[] } };
      expect(body.error.code, query).toBe('VALIDATION_FAILED');
      expect(body.error.issues.some((i) => i.path === param && message.test(i.message)) || (param === '' && message.test(JSON.stringify(body))), `${query}: ${JSON.stringify(body)}`).toBe(true);
    }
    const cli = await exec(process.execPath, [CLI, 'report', '--since', 'last-week'], { env: { ...process.env, GPUQ_URL: gpuq.url } }).catch((e: { code: number; stderr: string }) => e);
    expect(cli).toMatchObject({ code: 2, stderr: expect.stringContaining('since') });
  });

  it('gives the same figures for the same range after a restart: they come from the store', async () => {
    const until = new Date(Date.now()).toISOString();
    const before = await gpuq.client.report({ since, until });
    await gpuq.stop();
    gpuq = await startGpuq({ dataDir, fakeGpus: 2, args: serverArgs });
    const after = await gpuq.client.report({ since, until });
    // The range is the same, so is everything measured in it; what is queued or running now may have moved
    // (the blocker's attempt was stopped with the server and is retried).
    const measured = (r: SloReport) => ({ ...r, jobs: { ...r.jobs, queuedNow: 0, runningNow: 0 }, lines: r.lines.filter((l) => !l.key.endsWith('_now')) });
    expect(measured(after)).toEqual(measured(before));
    expect(before.jobs.succeeded).toBeGreaterThan(0);
  });
});

describe('GET /v1/jobs for the dashboard', () => {
  it('searches names, sorts, pages, counts, and refuses bad values naming the parameter', async () => {
    const c = gpuq.client;
    const found = await c.list({ name: 'OK-', sort: 'created' });
    expect(found.jobs.map((j) => j.name)).toEqual(['ok-gpu', 'ok-quick']);
    const byPriority = await c.list({ sort: '-priority', limit: 3 });
    expect(byPriority.jobs).toHaveLength(3);
    const next = await c.list({ sort: '-priority', limit: 3, cursor: byPriority.nextCursor! });
    expect(new Set([...byPriority.jobs, ...next.jobs].map((j) => j.id)).size).toBe(byPriority.jobs.length + next.jobs.length);

    const counts = await c.jobCounts();
    const listed = await c.list({ limit: 1000 });
    expect(counts.total).toBe(listed.jobs.length);
    expect(counts.byState.queued).toBe(listed.jobs.filter((j) => j.state === 'queued').length);
    expect(counts.dlq).toBe(listed.jobs.filter((j) => j.inDlq).length);
    expect((await c.jobCounts({ queue: 'other' })).queues.map((q) => q.queue)).toEqual(['other']);

    const bad: [string, string][] = [
      ['sort=name', 'sort'],
      ['name=', 'name'],
      ['name=a%00b', 'name'],
      [`sort=priority&cursor=${byPriority.nextCursor}`, 'cursor'],
      ['owner=no%20such%20name', 'owner'],
    ];
    for (const [query, param] of bad) {
      const res = await fetch(`${gpuq.url}/v1/jobs?${query}`);
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: { issues: { path: string }[] } }).error.issues.map((i) => i.path), query).toContain(param);
    }
    const res = await fetch(`${gpuq.url}/v1/jobs/counts?queue=BAD`);
    expect(res.status).toBe(400);
  });
});
