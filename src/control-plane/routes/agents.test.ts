import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WorkBatch } from '../../agent/agent-link.js';
import { parseJobSpec } from '../../core/job-spec.js';
import { startTestServer, TEST_LEASE_MS, type TestServer } from '../test-server.js';

/**
 * The remote agents' endpoints through inject() on a real server over a real SQLite store: registration,
 * the work long-poll (fed by the node's AgentFeed from the store's events), reports fenced by attempt,
 * and the 4xx answers to what an agent must not send. No scheduler runs: attempts are placed by hand.
 */

const LEASE_MS = TEST_LEASE_MS;
let server: TestServer;
let store: TestServer['store'];
let clock: TestServer['clock'];
let app: TestServer['app'];

beforeEach(async () => {
  server = await startTestServer({ prefix: 'gpuq-agents-' });
  ({ store, clock, app } = server);
});
afterEach(() => server.close());

const device = (index: number) => ({ index, uuid: `GPU-${index}`, name: 'Fake GPU', simulated: true, memoryTotalMb: 81_920, pciBusId: null, healthy: true });
const node = { id: 'gpu-1', hostname: 'gpu-1.example', labels: { zone: 'a' }, cpus: 8, memoryMb: 65_536, maxRunning: 16, devices: [device(0), device(1)], incarnation: '42-1' };

async function register(extra: object = { logUrl: 'http://10.0.0.7:7421', logSecret: 's'.repeat(32) }): Promise<{ sessionId: string; liveAttemptIds: number[]; leaseMs: number }> {
  const res = await app.inject({ method: 'POST', url: '/v1/agents/register', payload: { node, ...extra } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const poll = async (sessionId: string, query = '') => app.inject({ method: 'GET', url: `/v1/agents/gpu-1/work?session=${sessionId}${query}` });

/** Submits a job and places it on gpu-1 by hand, as the leader's scheduler would. */
async function assignJob(): Promise<{ jobId: number; attemptId: number }> {
  const [submitted] = await store.submitJobs([parseJobSpec({ command: ['true'], gpus: 1 })], clock.now());
  const [a] = await store.applyPlan([{ jobId: submitted!.job.id, nodeId: 'gpu-1', devices: [1] }], clock.now(), LEASE_MS);
  return { jobId: submitted!.job.id, attemptId: a!.attemptId };
}

describe('remote agent endpoints', () => {
  it('registers a node with its log endpoint, hands its work over a long-poll until acknowledged, and fences reports by attempt', async () => {
    const { sessionId, liveAttemptIds, leaseMs } = await register();
    expect(liveAttemptIds).toEqual([]);
    expect(leaseMs).toBe(LEASE_MS);
    expect(await store.getNodeLogEndpoint('gpu-1')).toEqual({ url: 'http://10.0.0.7:7421', secret: 's'.repeat(32) });
    expect((await store.listNodes()).map((n) => [n.id, n.state, n.lastHeartbeatAt, n.devices.length])).toEqual([['gpu-1', 'up', clock.now(), 2]]);

    // A poll that waits is answered as soon as an attempt is assigned to the node (through the store's event).
    const waiting = poll(sessionId, '&waitMs=10000');
    const { jobId, attemptId } = await assignJob();
    const first = (await waiting).json<WorkBatch>();
    expect(first.run.map((a) => [a.attemptId, a.jobId, a.devices])).toEqual([[attemptId, jobId, [1]]]);
    // Not acknowledged: handed out again. Acknowledged: gone.
    expect((await poll(sessionId, '&waitMs=0')).json<WorkBatch>().run.map((a) => a.attemptId)).toEqual([attemptId]);
    expect((await poll(sessionId, `&waitMs=0&ack=${first.seq}`)).json<WorkBatch>()).toEqual({ seq: first.seq, run: [], cancel: [] });

    const hb = await app.inject({ method: 'POST', url: '/v1/agents/gpu-1/heartbeat', payload: { runningAttemptIds: [attemptId, 999], hostMemory: { totalMb: 65_536, availableMb: 4096 } } });
    expect(hb.json()).toEqual({ liveAttemptIds: [attemptId] });
    expect((await store.getNode('gpu-1'))?.hostMemory).toEqual({ totalMb: 65_536, availableMb: 4096, sampledAt: clock.now() });
    const started = await app.inject({ method: 'POST', url: '/v1/agents/gpu-1/started', payload: { reports: [{ attemptId, pid: 1234, logPath: '/data/jobs/1/attempt-1.log', startedAt: clock.now() }] } });
    expect(started.json()).toEqual({ results: [{ attemptId, accepted: true, jobState: 'running' }] });
    const end = { attemptId, end: { state: 'succeeded', retryable: false, reason: 'exited with code 0' }, exitCode: 0, signal: null, endedAt: clock.now() };
    expect((await app.inject({ method: 'POST', url: '/v1/agents/gpu-1/ended', payload: { reports: [end] } })).json()).toEqual({ results: [{ attemptId, accepted: true, jobState: 'succeeded' }] });
    // The attempt is over: a second (late, repeated) report changes nothing.
    expect((await app.inject({ method: 'POST', url: '/v1/agents/gpu-1/ended', payload: { reports: [{ ...end, end: { ...end.end, state: 'failed' } }] } })).json()).toEqual({ results: [{ attemptId, accepted: false }] });
    expect((await store.getJob(jobId))?.state).toBe('succeeded');
  });

  it('hands a new session what the node was assigned before it registered again, and refuses the old session', async () => {
    const old = await register();
    const { attemptId } = await assignJob();
    const { sessionId, liveAttemptIds } = await register({});
    expect(liveAttemptIds).toEqual([attemptId]);
    // Registered again without a log server: the old endpoint is gone.
    expect(await store.getNodeLogEndpoint('gpu-1')).toBeNull();
    const res = await poll(old.sessionId);
    expect(res.statusCode).toBe(410);
    expect(res.json().error.code).toBe('AGENT_SESSION_EXPIRED');
    expect((await poll(sessionId, '&waitMs=0')).json<WorkBatch>().run.map((a) => a.attemptId)).toEqual([attemptId]);
  });

  it('refuses bad registrations, polls and reports with a 400 naming the field', async () => {
    const cases: [string, string, object | undefined, string][] = [
      ['POST', '/v1/agents/register', { node: { ...node, id: '-bad' } }, 'node.id'],
      ['POST', '/v1/agents/register', { node, logUrl: 'http://10.0.0.7:7421' }, 'logSecret'],
      ['POST', '/v1/agents/register', { node, logUrl: 'file:///etc/passwd', logSecret: 's'.repeat(32) }, 'logUrl'],
      ['POST', '/v1/agents/register', { node: { ...node, devices: [device(0), device(0)] } }, 'node.devices'],
      ['GET', '/v1/agents/gpu-1/work?session=nope', undefined, 'session'],
      ['GET', `/v1/agents/gpu-1/work?session=${'a'.repeat(24)}&waitMs=600000`, undefined, 'waitMs'],
      ['POST', '/v1/agents/gpu-1/heartbeat', { runningAttemptIds: [1], telemetry: [{ nodeId: 'gpu-2', index: 0, at: 1, utilizationPct: null, memoryUsedMb: null, temperatureC: null, powerW: null, eccCorrected: null, eccUncorrected: null }] }, 'telemetry.0.nodeId'],
      ['POST', '/v1/agents/gpu-1/heartbeat', { runningAttemptIds: [], hostMemory: { totalMb: 1000, availableMb: 1001 } }, 'hostMemory.availableMb'],
      ['POST', '/v1/agents/gpu-1/heartbeat', { runningAttemptIds: [], hostMemory: { totalMb: 0, availableMb: 0 } }, 'hostMemory.totalMb'],
      ['POST', '/v1/agents/gpu-1/started', { reports: [] }, 'reports'],
      ['POST', '/v1/agents/gpu-1/ended', { reports: [{ attemptId: 1, end: { state: 'running', retryable: true, reason: '' }, exitCode: null, signal: null, endedAt: 1 }] }, 'reports.0.end.state'],
    ];
    for (const [method, url, payload, field] of cases) {
      const res = await app.inject({ method: method as 'GET' | 'POST', url, ...(payload ? { payload } : {}) });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(400);
      expect(res.json<{ error: { issues: { path: string }[] } }>().error.issues.map((i) => i.path), url).toContain(field);
    }
  });
});
