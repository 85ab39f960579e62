import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentControl } from '../agent/agent-link.js';
import { ManualClock } from '../core/clock.js';
import { AgentSessionExpiredError } from '../core/errors.js';
import type { AssignedAttempt } from '../store/store.js';
import { RemoteAgentSession, RemoteAgentSessions } from './remote-agent-session.js';

const attempt = (attemptId: number): AssignedAttempt => ({
  attemptId,
  jobId: attemptId,
  number: 1,
  nodeId: 'n1',
  devices: [],
  spec: { type: 'noop' } as AssignedAttempt['spec'],
  jobCreatedAt: 0,
  leaseExpiresAt: 0,
});

describe('RemoteAgentSession', () => {
  it('answers at once with what is queued, and again until acknowledged (at least once)', async () => {
    const s = new RemoteAgentSession('n1', new ManualClock());
    s.run([attempt(1), attempt(2)]);
    s.cancel([7], 'user asked');
    const first = await s.poll(undefined, 60_000);
    expect(first).toEqual({ seq: 3, run: [attempt(1), attempt(2)], cancel: [{ attemptId: 7, reason: 'user asked' }] });
    // The answer was lost on the way: the next poll, with the old ack, gets it all again.
    expect(await s.poll(undefined, 0)).toEqual(first);
    s.run([attempt(3)]);
    expect(await s.poll(first.seq, 0)).toEqual({ seq: 4, run: [attempt(3)], cancel: [] });
    expect(await s.poll(4, 0)).toEqual({ seq: 4, run: [], cancel: [] });
  });

  it('holds an empty poll until work arrives; a newer poll ends the one still waiting', async () => {
    const s = new RemoteAgentSession('n1', new ManualClock());
    const waiting = s.poll(undefined, 60_000);
    const newer = s.poll(undefined, 60_000);
    expect(await waiting).toEqual({ seq: 0, run: [], cancel: [] });
    s.run([attempt(5)]);
    expect((await newer).run).toEqual([attempt(5)]);
  });

  it('answers empty when the wait runs out, or at once when closed', async () => {
    const s = new RemoteAgentSession('n1', new ManualClock());
    expect(await s.poll(undefined, 10)).toEqual({ seq: 0, run: [], cancel: [] });
    const waiting = s.poll(undefined, 60_000);
    s.close();
    expect(await waiting).toEqual({ seq: 0, run: [], cancel: [] });
  });

  it('is idle when nobody has polled for three waits (at least 10 s), never while a poll waits', async () => {
    const clock = new ManualClock();
    const s = new RemoteAgentSession('n1', clock);
    await s.poll(undefined, 0);
    clock.advance(10_001);
    expect(s.isIdle(clock.now())).toBe(true);
    const waiting = s.poll(undefined, 5000);
    clock.advance(60_000);
    expect(s.isIdle(clock.now())).toBe(false);
    s.run([attempt(1)]);
    await waiting;
    clock.advance(14_999);
    expect(s.isIdle(clock.now())).toBe(false);
    clock.advance(2);
    expect(s.isIdle(clock.now())).toBe(true);
  });
});

describe('RemoteAgentSessions', () => {
  const log = pino({ level: 'silent' });
  let sessions: RemoteAgentSessions | null = null;
  afterEach(() => sessions?.close());

  /** Records attaches and detaches, as the control plane's feeds would see them. */
  function attachments() {
    const attached = new Set<AgentControl>();
    const calls: string[] = [];
    return {
      attached,
      calls,
      attachAgent: async (a: AgentControl) => {
        calls.push(`attach ${a.nodeId}`);
        attached.add(a);
      },
      detachAgent: (a: AgentControl) => {
        if (attached.delete(a)) calls.push(`detach ${a.nodeId}`);
      },
    };
  }

  it('attaches a session on its first poll, once; a new registration replaces it, and its id is refused from then on', async () => {
    const cp = attachments();
    sessions = new RemoteAgentSessions(cp, new ManualClock(), log, 60_000);
    const s1 = sessions.open('n1');
    expect(cp.calls).toEqual([]);
    await sessions.poll('n1', s1.id, undefined, 0);
    await sessions.poll('n1', s1.id, undefined, 0);
    expect(cp.calls).toEqual(['attach n1']);

    const s2 = sessions.open('n1');
    expect(cp.calls).toEqual(['attach n1', 'detach n1']);
    await expect(sessions.poll('n1', s1.id, undefined, 0)).rejects.toBeInstanceOf(AgentSessionExpiredError);
    await expect(sessions.poll('n2', s2.id, undefined, 0)).rejects.toBeInstanceOf(AgentSessionExpiredError);
    await sessions.poll('n1', s2.id, undefined, 0);
    expect([...cp.attached]).toEqual([s2]);
  });

  it('detaches sessions nobody polls any more', async () => {
    const cp = attachments();
    const clock = new ManualClock();
    sessions = new RemoteAgentSessions(cp, clock, log, 60_000);
    const s = sessions.open('n1');
    await sessions.poll('n1', s.id, undefined, 0);
    clock.advance(5000);
    sessions.sweep();
    expect(sessions.size).toBe(1);
    clock.advance(6000);
    sessions.sweep();
    expect(sessions.size).toBe(0);
    expect(cp.attached.size).toBe(0);
    await expect(sessions.poll('n1', s.id, undefined, 0)).rejects.toBeInstanceOf(AgentSessionExpiredError);
  });
});
