import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_IDLE_POLICY, type GpuUsage } from '../../core/gpu-usage.js';
import { parseJobSpec } from '../../core/job-spec.js';
import { startTestServer, TEST_LEASE_MS, type TestServer } from '../test-server.js';

/**
 * GPU accounting over the remote agents' endpoints (the HTTP path of agent-link.ts), through inject() on a real
 * server over a real SQLite store: the idle policy in the registration answer, live figures and idle flags with
 * heartbeats, final figures with ends, what GET /v1/jobs/:id and /metrics then say, the idle-cancel policy, and
 * the 400s for figures an agent must not send. Attempts are placed by hand; times come from a manual clock.
 */

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const device = (index: number) => ({ index, uuid: `GPU-${index}`, name: 'Fake GPU', simulated: true, memoryTotalMb: 81_920, pciBusId: null, healthy: true });
const node = { id: 'gpu-1', hostname: 'gpu-1.example', labels: {}, cpus: 8, memoryMb: 65_536, maxRunning: 16, devices: [device(0), device(1)], incarnation: '42-1' };
const usage = (device: number, over: Partial<GpuUsage> = {}): GpuUsage => ({ device, gpuSeconds: 12.5, meanUtilizationPct: 2.5, peakUtilizationPct: 40, peakMemoryMb: 2048, idleSeconds: 11, samples: 25, ...over });

async function setUp(o: Parameters<typeof startTestServer>[0] = {}) {
  server = await startTestServer({ prefix: 'gpuq-gpu-usage-', ...o });
  const { app, store, clock } = server;
  const reg = await app.inject({ method: 'POST', url: '/v1/agents/register', payload: { node } });
  expect(reg.statusCode, reg.body).toBe(200);
  const [submitted] = await store.submitJobs([parseJobSpec({ command: ['true'], gpus: 2, queue: 'train' })], clock.now());
  const jobId = submitted!.job.id;
  const [a] = await store.applyPlan([{ jobId, nodeId: 'gpu-1', devices: [0, 1] }], clock.now(), TEST_LEASE_MS);
  const attemptId = a!.attemptId;
  const started = await app.inject({ method: 'POST', url: '/v1/agents/gpu-1/started', payload: { reports: [{ attemptId, pid: 77, logPath: null, startedAt: clock.now() }] } });
  expect(started.statusCode, started.body).toBe(200);
  const heartbeat = (payload: object) => app.inject({ method: 'POST', url: '/v1/agents/gpu-1/heartbeat', payload: { runningAttemptIds: [attemptId], ...payload } });
  const job = async () => (await app.inject({ method: 'GET', url: `/v1/jobs/${jobId}` })).json<{ job: { state: string; reason: string | null }; attempts: { id: number; idleSince: number | null; gpuUsage: GpuUsage[] }[] }>();
  const metrics = async () => (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return { app, store, clock, jobId, attemptId, reg: reg.json<{ idlePolicy: unknown }>(), heartbeat, job, metrics };
}

describe('GPU accounting over the agent endpoints', () => {
  it('answers the idle policy, records live figures and idle flags, then the final figures with the end, and shows them in the job and the metrics', async () => {
    const s = await setUp();
    expect(s.reg.idlePolicy).toEqual(DEFAULT_IDLE_POLICY);
    const t = s.clock.now();
    const telemetry = [0, 1].map((index) => ({ nodeId: 'gpu-1', index, at: t, utilizationPct: 2, memoryUsedMb: 100, temperatureC: 30, powerW: null, eccCorrected: 3, eccUncorrected: 0 }));

    const hb = await s.heartbeat({ telemetry, usage: [{ attemptId: s.attemptId, idleSince: t - 600_000, gpuUsage: [usage(0), usage(1)] }] });
    expect(hb.json()).toEqual({ liveAttemptIds: [s.attemptId] });
    let d = await s.job();
    expect(d.attempts[0]).toMatchObject({ id: s.attemptId, idleSince: t - 600_000, gpuUsage: [usage(0), usage(1)] });
    let text = await s.metrics();
    expect(text).toContain('gpuq_attempts_idle{queue="train"} 1');
    expect(text).toContain(`gpuq_device_utilization_ratio{node="gpu-1",device="1",simulated="true",job_id="${s.jobId}",queue="train"} 0.02`);
    expect(text).toContain(`gpuq_device_ecc_corrected_errors{node="gpu-1",device="0",simulated="true",job_id="${s.jobId}",queue="train"} 3`);
    const flagged = (await s.store.readFeed(0, { types: ['job.idle'], jobId: s.jobId }, 10)).events;
    expect(flagged).toMatchObject([{ type: 'job.idle', at: t, jobId: s.jobId, attemptId: s.attemptId, queue: 'train', nodeId: 'gpu-1', devices: [0, 1], idle: true }]);

    s.clock.advance(1000);
    await s.heartbeat({ usage: [{ attemptId: s.attemptId, idleSince: null, gpuUsage: [usage(0, { peakUtilizationPct: 90 }), usage(1)] }] });
    d = await s.job();
    expect(d.attempts[0]!.idleSince).toBeNull();
    expect(d.attempts[0]!.gpuUsage[0]!.peakUtilizationPct).toBe(90);
    expect(await s.metrics()).toContain('gpuq_attempts_idle{queue="train"} 0');

    const final = [usage(0, { gpuSeconds: 20 }), usage(1, { gpuSeconds: 20, meanUtilizationPct: null, peakUtilizationPct: null, peakMemoryMb: null })];
    const ended = await s.app.inject({
      method: 'POST',
      url: '/v1/agents/gpu-1/ended',
      payload: { reports: [{ attemptId: s.attemptId, end: { state: 'succeeded', retryable: false, reason: 'exited 0' }, exitCode: 0, signal: null, endedAt: s.clock.now(), gpuUsage: final }] },
    });
    expect(ended.json()).toEqual({ results: [{ attemptId: s.attemptId, accepted: true, jobState: 'succeeded' }] });
    d = await s.job();
    expect(d.attempts[0]!.gpuUsage).toEqual(final);
    text = await s.metrics();
    expect(text).toContain('gpuq_gpu_seconds_total{queue="train"} 40');
    // The device is free now: its series carries empty job and queue labels.
    expect(text).toContain('gpuq_device_utilization_ratio{node="gpu-1",device="1",simulated="true",job_id="",queue=""} 0.02');
    expect(text).not.toContain(`job_id="${s.jobId}"`);
  });

  it('with --idle-cancel, cancels the job of an attempt flagged idle, saying why, and counts it', async () => {
    const s = await setUp({ idle: { policy: { utilizationPct: 10, idleMs: 90_000 }, cancel: true } });
    expect(s.reg.idlePolicy).toEqual({ utilizationPct: 10, idleMs: 90_000 });
    await s.heartbeat({ usage: [{ attemptId: s.attemptId, idleSince: null, gpuUsage: [usage(0), usage(1)] }] });
    expect((await s.job()).job.state).toBe('running');
    await s.heartbeat({ usage: [{ attemptId: s.attemptId, idleSince: s.clock.now() - 90_000, gpuUsage: [usage(0), usage(1)] }] });
    const d = await s.job();
    expect(d.job).toMatchObject({ state: 'cancelled', reason: 'GPUs idle: utilization under 10 % for 1.5 min on node gpu-1 GPUs 0,1' });
    expect(await s.metrics()).toContain('gpuq_idle_cancels_total{queue="train"} 1');
    // The agent is told to kill the attempt: its session's next poll carries the cancel.
  });

  it('refuses figures an agent must not send with a 400 naming the field, and records nothing', async () => {
    const s = await setUp();
    const bad = async (payload: object, path: string, url = '/v1/agents/gpu-1/heartbeat') => {
      const res = await s.app.inject({ method: 'POST', url, payload });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json<{ error: { issues: { path: string }[] } }>().error.issues.map((i) => i.path)).toContain(path);
    };
    const report = (gpuUsage: unknown) => ({ runningAttemptIds: [s.attemptId], usage: [{ attemptId: s.attemptId, idleSince: null, gpuUsage }] });
    await bad(report([usage(0, { meanUtilizationPct: 101 })]), 'usage.0.gpuUsage.0.meanUtilizationPct');
    await bad(report([usage(0, { samples: -1 })]), 'usage.0.gpuUsage.0.samples');
    await bad(report([usage(0), usage(0)]), 'usage.0.gpuUsage');
    await bad({ runningAttemptIds: [], usage: [{ attemptId: s.attemptId, idleSince: 'soon', gpuUsage: [] }] }, 'usage.0.idleSince');
    await bad(
      { reports: [{ attemptId: s.attemptId, end: { state: 'succeeded', retryable: false, reason: 'x' }, exitCode: 0, signal: null, endedAt: 1, gpuUsage: [{ ...usage(0), extra: 1 }] }] },
      'reports.0.gpuUsage.0',
      '/v1/agents/gpu-1/ended',
    );
    const d = await s.job();
    expect(d.job.state).toBe('running');
    expect(d.attempts[0]!.gpuUsage).toEqual([]);
  });
});
