import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import type { GpuUsage } from '../src/core/gpu-usage.js';
import { parseUtilizationScript } from '../src/core/utilization-script.js';
import type { FeedEvent, GpuqClient, JobDetail } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { leakedServers, runCli, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// GPU accounting and idle detection end to end: real `gpuq up` processes with SIMULATED GPUs (--fake-gpus) whose
// utilization each job scripts (env GPUQ_FAKE_GPU_UTILIZATION), sampled every 0.1 s, with an idle time of
// 0.02 min (1.2 s). The figures recorded must match the scripts; the idle flag must fire and clear as scripted.
//
// Tolerance, from the sample interval: a change of the load is seen when the next sample is taken, at most one
// interval (0.1 s) late; we allow two more intervals for timers delayed on a loaded machine (LAG_S). So a time
// measured between two changes of the load (idle seconds, an idle-since time) is within LAG_S, and the mean
// utilization within Σ|change of the load| × LAG_S / run time.
const INTERVAL_S = 0.1;
const LAG_S = 3 * INTERVAL_S;
const IDLE_MINUTES = 0.02;
const IDLE_MS = IDLE_MINUTES * 60_000;
const SIMULATION = ['--telemetry-seconds', String(INTERVAL_S), '--idle-minutes', String(IDLE_MINUTES)];

const servers: GpuqProcess[] = [];
const agents: AgentProcess[] = [];
const schemas = new TestSchemas();
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

async function server(args: string[] = []): Promise<GpuqProcess> {
  const s = await startGpuq({ fakeGpus: 2, args: [...SIMULATION, ...args] });
  servers.push(s);
  return s;
}

/** What a script says over the first `runS` seconds: its mean, the sum of its changes (for the tolerance), its time under `pct`. */
function scriptOver(text: string, runS: number, underPct = 5): { mean: number; swing: number; underS: number } {
  const parsed = parseUtilizationScript(text);
  if (!('script' in parsed)) throw new Error(parsed.problem);
  let integral = 0;
  let swing = 0;
  let underS = 0;
  let t = 0;
  parsed.script.forEach((step, i) => {
    const last = i === parsed.script.length - 1;
    const until = last ? runS : Math.min(runS, t + step.seconds);
    if (until > t) {
      integral += step.pct * (until - t);
      if (step.pct < underPct) underS += until - t;
      if (i > 0) swing += Math.abs(step.pct - parsed.script[i - 1]!.pct);
    }
    t = until;
  });
  return { mean: integral / runS, swing, underS };
}

/** Follows a job's job.idle events from now on. */
async function followIdle(client: GpuqClient, jobId: number) {
  const { lastEventId } = await client.listEvents({ limit: 1 });
  const stop = new AbortController();
  const seen: Extract<FeedEvent, { type: 'job.idle' }>[] = [];
  let wake = () => {};
  const reading = (async () => {
    try {
      for await (const e of client.events({ job: jobId, types: ['job.idle'], after: lastEventId, signal: stop.signal })) {
        if (e.type === 'job.idle') seen.push(e);
        wake();
      }
    } catch (err) {
      if (!stop.signal.aborted) throw err;
    }
  })();
  return {
    seen,
    /** The n-th (0-based) job.idle event of the job. */
    async nth(n: number) {
      const deadline = Date.now() + 30_000;
      while (seen.length <= n) {
        if (Date.now() > deadline) throw new Error(`no job.idle event #${n + 1} within 30 s; seen ${JSON.stringify(seen)}`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1000);
        });
      }
      return seen[n]!;
    },
    async close() {
      stop.abort();
      await reading;
    },
  };
}

async function finished(client: GpuqClient, id: number): Promise<JobDetail> {
  const { timedOut } = await waitForJobs(client, [id], Date.now() + 60_000);
  expect(timedOut).toBe(false);
  return client.get(id);
}

/** A cancelled job ends at once; its attempt once the agent has killed its processes. */
async function attemptEnded(client: GpuqClient, id: number): Promise<JobDetail> {
  return until('the attempt to end', async () => {
    const d = await client.get(id);
    return d.attempts.every((a) => a.endedAt !== null) ? d : undefined;
  });
}

const metricsOf = async (url: string) => (await fetch(`${url}/metrics`)).text();
const runS = (a: { startedAt: number | null; endedAt: number | null }) => (a.endedAt! - a.startedAt!) / 1000;

describe('GPU accounting with scripted simulated GPUs (gpuq up --fake-gpus)', () => {
  it('records each GPU\'s GPU-seconds, mean and peak utilization, peak memory and samples as the script says, labels the device metrics with the job while it runs, and shows them', async () => {
    const s = await server(['--node-name', 'sim-1']);
    const script = '80:1.5,40';
    const { job } = await s.client.submit({ name: 'scripted', queue: 'acct', gpus: 2, shell: 'sleep 3', env: { GPUQ_FAKE_GPU_UTILIZATION: script } });

    // While it runs: live figures in the job, and the device gauges carry its job id and queue.
    const live = await until('live GPU figures', async () => {
      const d = await s.client.get(job.id);
      return d.attempts[0]?.gpuUsage.length === 2 ? d : undefined;
    });
    expect(live.attempts[0]!.endedAt).toBeNull();
    const running = await metricsOf(s.url);
    for (const device of live.attempts[0]!.devices) {
      expect(running).toMatch(new RegExp(`gpuq_device_utilization_ratio\\{node="sim-1",device="${device}",simulated="true",job_id="${job.id}",queue="acct"\\} 0\\.[48]`));
    }

    const d = await finished(s.client, job.id);
    expect(d.job.state).toBe('succeeded');
    const a = d.attempts[0]!;
    const run = runS(a);
    const want = scriptOver(script, run);
    expect(a.idleSince).toBeNull();
    expect(a.gpuUsage.map((u) => u.device)).toEqual(a.devices);
    for (const u of a.gpuUsage) {
      expect(u.gpuSeconds).toBeCloseTo(run, 2);
      expect(u.peakUtilizationPct).toBe(80);
      // Simulated memory follows the utilization: half the device's 80 GiB at 100 %.
      expect(u.peakMemoryMb).toBe(0.8 * 40_960);
      expect(Math.abs(u.meanUtilizationPct! - want.mean)).toBeLessThanOrEqual((want.swing * LAG_S) / run);
      expect(u.idleSeconds).toBe(0);
      expect(u.samples).toBeGreaterThanOrEqual(Math.floor(run / INTERVAL_S / 3));
      expect(u.samples).toBeLessThanOrEqual(Math.ceil(run / INTERVAL_S) + 1);
    }

    const after = await metricsOf(s.url);
    const total = Number(/gpuq_gpu_seconds_total\{queue="acct"\} ([\d.]+)/.exec(after)?.[1]);
    expect(total).toBeCloseTo(a.gpuUsage.reduce((sum, u) => sum + u.gpuSeconds, 0), 2);
    expect(after).not.toContain(`job_id="${job.id}"`);
    expect(after).toMatch(/gpuq_device_utilization_ratio\{node="sim-1",device="0",simulated="true",job_id="",queue=""\} 0/);

    const shown = await runCli(['show', String(job.id), '--url', s.url]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('GPU usage');
    for (const u of a.gpuUsage) expect(shown.stdout).toContain(`${u.device}    ${u.gpuSeconds.toFixed(1)}`);
    expect(shown.stdout).toContain('80.0 %');
  });

  it('flags the attempt idle once its GPUs stayed under 5 % for the idle time, clears the flag when they are busy again, and records the idle time', async () => {
    const s = await server(['--node-name', 'sim-1']);
    // 60 % for 0.5 s, 1 % for 2.5 s (flagged 1.2 s into it), then 70 % (cleared).
    const script = '60:0.5,1:2.5,70';
    const { job } = await s.client.submit({ queue: 'idle-q', gpus: 1, shell: 'sleep 4.5', env: { GPUQ_FAKE_GPU_UTILIZATION: script } });
    const events = await followIdle(s.client, job.id);
    try {
      const flagged = await events.nth(0);
      const during = await s.client.get(job.id);
      const a = during.attempts[0]!;
      expect(flagged).toMatchObject({ type: 'job.idle', jobId: job.id, attemptId: a.id, queue: 'idle-q', nodeId: 'sim-1', devices: a.devices, idle: true });
      const cleared = await events.nth(1);
      expect(cleared).toMatchObject({ type: 'job.idle', jobId: job.id, attemptId: a.id, idle: false });

      const d = await finished(s.client, job.id);
      const ended = d.attempts[0]!;
      const started = ended.startedAt!;
      // Flagged the idle time after the GPU went under 5 % (0.5 s in), cleared when it went to 70 % (3 s in).
      expect(flagged.at - started).toBeGreaterThanOrEqual(500 + IDLE_MS);
      expect(flagged.at - started).toBeLessThanOrEqual(500 + IDLE_MS + LAG_S * 1000);
      expect(Math.abs(cleared.at - started - 3000)).toBeLessThanOrEqual(LAG_S * 1000);
      expect(ended.idleSince).toBeNull();
      const [u] = ended.gpuUsage as [GpuUsage];
      const want = scriptOver(script, runS(ended));
      expect(Math.abs(u.idleSeconds - want.underS)).toBeLessThanOrEqual(LAG_S);
      expect(Math.abs(u.meanUtilizationPct! - want.mean)).toBeLessThanOrEqual((want.swing * LAG_S) / runS(ended));
      expect(u.peakUtilizationPct).toBe(70);

      // The feed's JSON form has the same two events, in order.
      const listed = await s.client.listEvents({ job: job.id, types: ['job.idle'], after: 0 });
      expect(listed.events.map((e) => e.type === 'job.idle' && [e.idle, e.id])).toEqual([[true, flagged.id], [false, cleared.id]]);
    } finally {
      await events.close();
    }
  });

  it('marks an idle running attempt in `gpuq show` and in gpuq_attempts_idle until it ends', async () => {
    const s = await server(['--node-name', 'sim-1']);
    const { job } = await s.client.submit({ queue: 'idle-show', gpus: 1, shell: 'sleep 60', env: { GPUQ_FAKE_GPU_UTILIZATION: '0' } });
    const events = await followIdle(s.client, job.id);
    try {
      await events.nth(0);
      const shown = await runCli(['show', String(job.id), '--url', s.url]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/IDLE {4}attempt 1: GPUs \d on sim-1 idle since /);
      expect(shown.stdout).toMatch(/running IDLE/);
      expect(await metricsOf(s.url)).toContain('gpuq_attempts_idle{queue="idle-show"} 1');
      await s.client.cancel(job.id, 'seen idle');
      expect((await finished(s.client, job.id)).job.state).toBe('cancelled');
      await attemptEnded(s.client, job.id);
      expect(await metricsOf(s.url)).toContain('gpuq_attempts_idle{queue="idle-show"} 0');
    } finally {
      await events.close();
    }
  });

  it('with --idle-cancel, cancels the job of an idle attempt with a reason naming the node and GPUs', async () => {
    const s = await server(['--idle-cancel', '--node-name', 'sim-2']);
    const { job } = await s.client.submit({ gpus: 2, shell: 'sleep 60', env: { GPUQ_FAKE_GPU_UTILIZATION: '2' } });
    expect((await finished(s.client, job.id)).job.state).toBe('cancelled');
    const d = await attemptEnded(s.client, job.id);
    expect(d.job.reason).toBe('GPUs idle: utilization under 5 % for 1.2 s on node sim-2 GPUs 0,1');
    const a = d.attempts[0]!;
    expect(a.state).toBe('cancelled');
    expect(a.idleSince).not.toBeNull();
    expect(runS(a)).toBeGreaterThanOrEqual(IDLE_MS / 1000);
    expect(a.gpuUsage.map((u) => [u.device, u.peakUtilizationPct])).toEqual([[0, 2], [1, 2]]);
    expect(await metricsOf(s.url)).toContain('gpuq_idle_cancels_total{queue="default"} 1');
  });

  it('works in cluster mode: a remote agent (gpuq agent) applies the server\'s idle policy and reports the figures over HTTP to a PostgreSQL control plane', async () => {
    const { url: db } = await schemas.createForServer();
    const s = await startGpuq({ args: ['--no-agent', '--database-url', db, '--idle-minutes', String(IDLE_MINUTES)] });
    servers.push(s);
    // Auth is off on loopback: no agent token.
    const agent = await startAgent({ server: s.url, token: '', node: 'remote-1', fakeGpus: 1, args: ['--telemetry-seconds', String(INTERVAL_S)] });
    agents.push(agent);
    const script = '1:2,90';
    const { job } = await s.client.submit({ gpus: 1, shell: 'sleep 3.5', env: { GPUQ_FAKE_GPU_UTILIZATION: script } });
    const d = await finished(s.client, job.id);
    expect(d.job.state).toBe('succeeded');
    const a = d.attempts[0]!;
    expect(a.nodeId).toBe('remote-1');
    const [u] = a.gpuUsage as [GpuUsage];
    const want = scriptOver(script, runS(a));
    expect(u.gpuSeconds).toBeCloseTo(runS(a), 2);
    expect(u.peakUtilizationPct).toBe(90);
    expect(Math.abs(u.idleSeconds - want.underS)).toBeLessThanOrEqual(LAG_S);
    expect(Math.abs(u.meanUtilizationPct! - want.mean)).toBeLessThanOrEqual((want.swing * LAG_S) / runS(a));
    // Flagged after 1.2 s (the server's --idle-minutes, not the 10 min default) and cleared at 2 s.
    const { events } = await s.client.listEvents({ job: job.id, types: ['job.idle'], after: 0 });
    expect(events.map((e) => e.type === 'job.idle' && [e.idle, e.nodeId])).toEqual([[true, 'remote-1'], [false, 'remote-1']]);
  });
});
