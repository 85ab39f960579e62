import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import type { Fence } from '../store/leadership.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { Store } from '../store/store.js';
import { LeaderElection } from './leader-election.js';
import { Metrics } from './metrics.js';

// A real SQLite store; time is a ManualClock, and election steps are run by hand (the timer period is an hour).
const log = pino({ level: 'silent' });
const LEASE_MS = 6000;
let dir: string;
let store: Store;
let clock: ManualClock;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-election-'));
  store = await openSqliteStore({ dataDir: dir });
  clock = new ManualClock();
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function server(name: string, over: { store?: Store; takeoverAtStart?: boolean; renewMs?: number } = {}) {
  const events: string[] = [];
  const metrics = new Metrics(store);
  const election = new LeaderElection(
    over.store ?? store,
    clock,
    metrics,
    log,
    {
      elected: (f: Fence) => void events.push(`elected ${f.term}`),
      deposed: (reason: string) => void events.push(`deposed: ${reason}`),
    },
    { replicaId: name, url: `http://${name}`, leaseMs: LEASE_MS, renewMs: over.renewMs ?? 3_600_000, takeoverAtStart: over.takeoverAtStart ?? false },
  );
  return { election, events, metrics };
}

describe('LeaderElection', () => {
  it('a lone server leads from its first step; stopping resigns, so another takes over at once', async () => {
    const a = server('a');
    await a.election.start();
    expect(a.events).toEqual(['elected 1']);
    expect(a.election.currentFence).toEqual({ term: 1 });
    expect(await a.metrics.registry.getSingleMetricAsString('gpuq_leader')).toMatch(/gpuq_leader 1$/m);
    await a.election.stop();
    expect(a.events).toEqual(['elected 1', 'deposed: this server is shutting down']);
    const b = server('b');
    await b.election.start();
    expect(b.events).toEqual(['elected 2']);
    await b.election.stop();
  });

  it('a second server follows while the leader renews, and takes over once the leader stops renewing', async () => {
    const a = server('a');
    const b = server('b');
    await a.election.tick();
    await b.election.tick();
    expect(b.election.currentFence).toBeNull();
    clock.advance(LEASE_MS - 1);
    await a.election.tick(); // renewed
    clock.advance(LEASE_MS - 1);
    await b.election.tick();
    expect(b.events).toEqual([]);
    clock.advance(1); // a's renewal has now run out
    await b.election.tick();
    expect(b.events).toEqual(['elected 2']);
    await a.election.tick();
    expect(a.events).toEqual(['elected 1', 'deposed: b holds the lease (term 2)']);
    expect(await b.metrics.registry.getSingleMetricAsString('gpuq_leader_changes_total')).toMatch(/gpuq_leader_changes_total 2$/m);
  });

  it('steps down when it cannot renew and its lease would run out before the next try, not on the first failed try', async () => {
    let down = false;
    const flaky: Store = { ...store, claimLeadership: (...args) => (down ? Promise.reject(new Error('connection refused')) : store.claimLeadership(...args)) };
    const a = server('a', { store: flaky, renewMs: 2000 });
    await a.election.tick();
    down = true;
    clock.advance(2000);
    await a.election.tick(); // the lease lasts until 6 s, the next try is at 4 s: stay
    expect(a.election.currentFence).toEqual({ term: 1 });
    clock.advance(2000); // the next try would be at 6 s, when the lease has run out: leave now
    await a.election.tick();
    expect(a.events).toEqual(['elected 1', 'deposed: cannot renew the leader lease: connection refused']);
  });

  it('steps down at once when the store refused a write of its term', async () => {
    const a = server('a');
    await a.election.tick();
    await a.election.lost(7); // not its term: nothing
    expect(a.election.currentFence).toEqual({ term: 1 });
    await a.election.lost(1);
    expect(a.events).toEqual(['elected 1', 'deposed: the store refused a write of term 1: another server leads']);
  });

  it('takes over a live lease at start only when told to (a restarted server on a one-server store)', async () => {
    const old = server('old');
    await old.election.tick();
    const polite = server('polite');
    await polite.election.start();
    expect(polite.election.currentFence).toBeNull();
    await polite.election.stop();
    const restarted = server('restarted', { takeoverAtStart: true });
    await restarted.election.start();
    expect(restarted.events).toEqual(['elected 2']);
    await restarted.election.stop();
  });
});
