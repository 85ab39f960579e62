import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { parseJobSpec } from '../core/job-spec.js';
import type { DeviceTelemetry, NodeRegistration } from '../core/types.js';
import type { AssignedAttempt, EndReport, ReportResult, StartReport } from '../store/store.js';
import type { ControlPlaneLink } from './agent-link.js';
import type { ExecResult, ExecStart, KillReason, RunningAttempt } from './executor.js';
import type { AttemptLauncher, LaunchRequest } from './launcher/protocol.js';
import { LocalAgent } from './local-agent.js';

/**
 * LocalAgent's bookkeeping against a scripted control plane and launcher, on a moved clock: repeated
 * hand-overs run once, reclaimed attempts are killed and report nothing, and after a gap in contact
 * reports wait for a liveness check. (Real processes and a real control plane: test/remote-agent.test.ts.)
 */

const LEASE_MS = 1000;

class ScriptedAttempt implements RunningAttempt {
  readonly pid = 4242;
  readonly started: Promise<ExecStart>;
  readonly done: Promise<ExecResult>;
  readonly kills: KillReason[] = [];
  private finish!: (r: ExecResult) => void;

  constructor(
    readonly attemptId: number,
    readonly devices: number[],
  ) {
    this.started = Promise.resolve({ pid: this.pid, startedAt: 1 });
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  kill(reason: KillReason): void {
    this.kills.push(reason);
    this.end(reason === 'cancel' ? 'cancelled' : 'failed');
  }

  end(state: ExecResult['state'] = 'succeeded'): void {
    this.finish({ state, exitCode: state === 'succeeded' ? 0 : null, signal: null, reason: state, retryable: state !== 'succeeded' && state !== 'cancelled', startedAt: 1, endedAt: 2, logTruncated: false });
  }
}

/** A control plane that records what it is told and answers liveness from `live`. */
class ScriptedLink implements ControlPlaneLink {
  readonly calls: string[] = [];
  readonly ended: EndReport[] = [];
  live = new Set<number>();
  async register(_node: NodeRegistration) {
    this.calls.push('register');
    return { liveAttemptIds: [...this.live], leaseMs: LEASE_MS };
  }
  async heartbeat(_nodeId: string, ids: number[], _telemetry: DeviceTelemetry[]) {
    if (ids.length > 0) this.calls.push(`heartbeat ${ids.join(',')}`);
    return { liveAttemptIds: ids.filter((id) => this.live.has(id)) };
  }
  async reportStarted(reports: StartReport[]): Promise<ReportResult[]> {
    this.calls.push(`started ${reports.map((r) => r.attemptId).join(',')}`);
    return reports.map((r) => ({ attemptId: r.attemptId, accepted: this.live.has(r.attemptId) }));
  }
  async reportEnded(reports: EndReport[]): Promise<ReportResult[]> {
    this.calls.push(`ended ${reports.map((r) => r.attemptId).join(',')}`);
    this.ended.push(...reports);
    return reports.map((r) => ({ attemptId: r.attemptId, accepted: this.live.has(r.attemptId) }));
  }
  async leave(nodeId: string) {
    this.calls.push(`leave ${nodeId}`);
    return true;
  }
}

async function agentWith(heartbeatMs = 3_600_000) {
  const clock = new ManualClock();
  const link = new ScriptedLink();
  const attempts = new Map<number, ScriptedAttempt>();
  const starts: number[] = [];
  const launcher: AttemptLauncher = {
    startAttempt(req: LaunchRequest) {
      starts.push(req.attemptId);
      const a = new ScriptedAttempt(req.attemptId, req.devices);
      attempts.set(req.attemptId, a);
      return a;
    },
  };
  const agent = new LocalAgent(link, clock, pino({ level: 'silent' }), {
    nodeId: 'n1', hostname: 'n1', labels: {}, cpus: 1, memoryMb: 1024, maxRunning: 8, dataDir: '/nonexistent', heartbeatMs, telemetryMs: 3_600_000,
    logCapBytes: 1024, killGraceMs: 0, devices: { source: 'none', nodeId: 'n1', devices: [], warnings: [] }, launcher,
  });
  await agent.start();
  return { clock, link, agent, attempts, starts };
}

const assigned = (attemptId: number): AssignedAttempt => ({
  attemptId, jobId: attemptId, number: 1, nodeId: 'n1', devices: [], spec: parseJobSpec({ command: ['true'] }), jobCreatedAt: 0, leaseExpiresAt: 0,
});

describe('LocalAgent', () => {
  it('runs an attempt handed over again (at least once delivery) only once, while it runs and after it ended', async () => {
    const { link, agent, attempts, starts } = await agentWith();
    link.live.add(1);
    agent.run([assigned(1)]);
    agent.run([assigned(1)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1'));
    attempts.get(1)!.end();
    await vi.waitFor(() => expect(link.calls).toContain('ended 1'));
    agent.run([assigned(1)]);
    expect(starts).toEqual([1]);
    await agent.stop();
  });

  it('stopping, kills what runs, sends its last reports, and then says its node leaves', async () => {
    const { link, agent } = await agentWith();
    link.live.add(1);
    agent.run([assigned(1)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1'));
    await agent.stop();
    expect(link.calls.slice(-2)).toEqual(['ended 1', 'leave n1']);
    expect(link.ended.map((e) => e.end.state)).toEqual(['failed']);
  });

  it('reports at once while its leases are fresh', async () => {
    const { link, agent, attempts } = await agentWith();
    link.live.add(1);
    agent.run([assigned(1)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1'));
    attempts.get(1)!.end();
    await vi.waitFor(() => expect(link.calls).toEqual(['register', 'started 1', 'ended 1']));
    await agent.stop();
  });

  it('after a gap longer than half a lease, asks which attempts are live before reporting, and drops the ends of reclaimed ones', async () => {
    const { clock, link, agent, attempts } = await agentWith();
    link.live = new Set([1, 2]);
    agent.run([assigned(1), assigned(2)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1,2'));
    // Paused past its lease: the control plane reclaimed attempt 1; both processes ended meanwhile.
    clock.advance(LEASE_MS);
    link.live.delete(1);
    attempts.get(1)!.end();
    attempts.get(2)!.end();
    await vi.waitFor(() => expect(link.calls.slice(2)).toEqual(['heartbeat 1,2', 'ended 2']));
    expect(link.ended.map((e) => [e.attemptId, e.end.state])).toEqual([[2, 'succeeded']]);
    await agent.stop();
  });

  it('kills a running attempt the control plane no longer holds live, and reports nothing of it', async () => {
    const { link, agent, attempts } = await agentWith(20);
    link.live.add(1);
    agent.run([assigned(1)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1'));
    link.live.delete(1);
    await vi.waitFor(() => expect(attempts.get(1)!.kills).toEqual(['cancel']));
    await agent.stop();
    expect(link.calls.filter((c) => c.startsWith('ended'))).toEqual([]);
  });

  it('registered again, keeps what is still live and kills what was reclaimed', async () => {
    const { link, agent, attempts } = await agentWith();
    link.live = new Set([1, 2]);
    agent.run([assigned(1), assigned(2)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1,2'));
    link.live.delete(2);
    await agent.reconnect();
    expect([attempts.get(1)!.kills, attempts.get(2)!.kills]).toEqual([[], ['cancel']]);
    expect(agent.isRunning(1)).toBe(true);
    attempts.get(1)!.end();
    await vi.waitFor(() => expect(link.calls.at(-1)).toBe('ended 1'));
    await agent.stop();
  });

  it('abandoned (the control plane out of reach past the grace period), ends its attempts as lost', async () => {
    const { link, agent } = await agentWith();
    link.live.add(1);
    agent.run([assigned(1)]);
    await vi.waitFor(() => expect(link.calls).toContain('started 1'));
    agent.abandon('unreachable for 60 s');
    await vi.waitFor(() => expect(link.ended.map((e) => [e.attemptId, e.end])).toEqual([[1, { state: 'lost', retryable: true, reason: 'unreachable for 60 s' }]]));
    expect(agent.runningCount).toBe(0);
    await agent.stop();
  });
});
