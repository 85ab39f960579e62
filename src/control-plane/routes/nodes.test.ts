import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../core/job-spec.js';
import { decideAfterAttempt } from '../../core/retry-policy.js';
import { startTestServer, TEST_LEASE_MS, type TestServer } from '../test-server.js';

/**
 * Cordon, drain and uncordon through inject() on a real server over a real SQLite store (auth off, so
 * the actor is `local`). No scheduler runs: attempts are placed and ended by hand.
 */

const LEASE_MS = TEST_LEASE_MS;
let server: TestServer;
let store: TestServer['store'];
let clock: TestServer['clock'];
let app: TestServer['app'];
let wakes: number;

beforeEach(async () => {
  server = await startTestServer({ prefix: 'gpuq-nodes-' });
  ({ store, clock, app } = server);
  wakes = 0;
  server.controlPlane.onWork = () => void wakes++;
  const device = { index: 0, uuid: 'GPU-0', name: 'Fake GPU', simulated: true, memoryTotalMb: 81_920, pciBusId: null, healthy: true };
  await store.upsertNode({ id: 'gpu-1', hostname: 'gpu-1', labels: {}, cpus: 8, memoryMb: 65_536, maxRunning: 4, devices: [device], incarnation: 'x', lastHeartbeatAt: clock.now(), state: 'up' });
});
afterEach(() => server.close());

const act = async (verb: string, node = 'gpu-1') => app.inject({ method: 'POST', url: `/v1/nodes/${node}/${verb}` });
const listed = async () => (await app.inject({ method: 'GET', url: '/v1/nodes' })).json<{ nodes: { id: string; adminState: string; liveAttempts: number; drained: boolean | null }[] }>().nodes;

describe('node lifecycle routes', () => {
  it('cordons and uncordons a node, answering the node with its state, and wakes the scheduler on uncordon', async () => {
    const cordoned = await act('cordon');
    expect(cordoned.statusCode, cordoned.body).toBe(200);
    expect(cordoned.json().node).toMatchObject({ id: 'gpu-1', adminState: 'cordoned', liveAttempts: 0, drained: null });
    expect((await store.schedulingSnapshot(clock.now(), 1)).nodes[0]?.schedulable).toBe(false);
    expect(wakes).toBe(0);
    expect((await act('uncordon')).json().node).toMatchObject({ adminState: 'active', drained: null });
    expect(wakes).toBe(1);
    expect((await app.inject({ method: 'GET', url: '/v1/nodes/gpu-1' })).json().node).toMatchObject({ id: 'gpu-1', adminState: 'active', liveAttempts: 0 });
  });

  it('reports a draining node drained once its live attempts have ended', async () => {
    const [submitted] = await store.submitJobs([parseJobSpec({ command: ['true'], gpus: 1 })], clock.now());
    const [a] = await store.applyPlan([{ jobId: submitted!.job.id, nodeId: 'gpu-1', devices: [0] }], clock.now(), LEASE_MS);
    expect((await act('drain')).json().node).toMatchObject({ adminState: 'draining', liveAttempts: 1, drained: false });
    expect(await listed()).toMatchObject([{ id: 'gpu-1', adminState: 'draining', liveAttempts: 1, drained: false }]);
    await store.endAttempts([{ attemptId: a!.attemptId, end: { state: 'succeeded', retryable: false, reason: 'exited 0' }, exitCode: 0, signal: null, endedAt: clock.now() }], (job, end) => decideAfterAttempt(job, end, clock.now(), 0.5), clock.now());
    expect(await listed()).toMatchObject([{ id: 'gpu-1', adminState: 'draining', liveAttempts: 0, drained: true }]);
    expect((await app.inject({ method: 'GET', url: '/v1/nodes/gpu-1' })).json().node).toMatchObject({ drained: true });
  });

  it('answers 404 NOT_FOUND for an unknown node, and records every action in the audit log', async () => {
    for (const verb of ['cordon', 'drain', 'uncordon']) {
      const res = await act(verb, 'nope');
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
    }
    expect((await app.inject({ method: 'GET', url: '/v1/nodes/nope' })).statusCode).toBe(404);
    await act('cordon');
    await act('cordon');
    await act('drain');
    await act('uncordon');
    const entries = (await app.inject({ method: 'GET', url: '/v1/audit?limit=100' })).json<{ entries: { actor: string; action: string; target: string; outcome: string; detail: string }[] }>().entries;
    expect(entries.map((e) => [e.actor, e.action, e.target, e.outcome, e.detail]).reverse()).toEqual([
      ['local', 'nodes.cordon', 'node nope', 'failed', expect.stringContaining('node nope not found')],
      ['local', 'nodes.drain', 'node nope', 'failed', expect.stringContaining('node nope not found')],
      ['local', 'nodes.uncordon', 'node nope', 'failed', expect.stringContaining('node nope not found')],
      ['local', 'nodes.cordon', 'node gpu-1', 'ok', 'active → cordoned; 0 attempt(s) live'],
      ['local', 'nodes.cordon', 'node gpu-1', 'ok', 'already cordoned; 0 attempt(s) live'],
      ['local', 'nodes.drain', 'node gpu-1', 'ok', 'cordoned → draining; 0 attempt(s) live'],
      ['local', 'nodes.uncordon', 'node gpu-1', 'ok', 'draining → active; 0 attempt(s) live'],
    ]);
  });
});
