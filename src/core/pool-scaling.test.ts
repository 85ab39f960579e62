import { describe, expect, it } from 'vitest';
import { NOW, poolOf, replicaOf } from './pool-scaling.fixtures.js';
import type { Pool, PoolReplica } from './pool-spec.js';
import { planPools, poolGpusHeld, restartNotBefore, type PoolBacklogCounts, type PoolPlanInput } from './pool-scaling.js';

function plan(pools: Pool[], replicas: PoolReplica[], backlogs: Record<string, Partial<PoolBacklogCounts>>, extra: Partial<PoolPlanInput> = {}) {
  const map = new Map(Object.entries(backlogs).map(([k, v]) => [k, { runnable: 0, queued: 0, running: 0, ...v }]));
  return planPools({ pools, replicas, backlogs: map, now: NOW, gpuLimit: null, random: 0.5, ...extra });
}

describe('planPools', () => {
  it('starts one replica for a task submitted to a pool at zero (the cold start)', () => {
    const p = poolOf({ name: 'a', maxReplicas: 4 });
    expect(plan([p], [], { a: { runnable: 1, queued: 1 } }).starts).toEqual([{ pool: 'a', generation: 1, count: 1 }]);
  });

  it('keeps minReplicas up with no work, and starts nothing for an idle pool at zero', () => {
    const p = poolOf({ name: 'a', minReplicas: 2, maxReplicas: 4 });
    expect(plan([p], [], {}).starts).toEqual([{ pool: 'a', generation: 1, count: 2 }]);
    expect(plan([poolOf({ name: 'b' })], [], {}).starts).toEqual([]);
  });

  it('adds replicas while the backlog per replica exceeds the target, up to maxReplicas', () => {
    const p = poolOf({ name: 'a', maxReplicas: 3, targetBacklog: 10 });
    const ready = [replicaOf(p, 'ready')];
    expect(plan([p], ready, { a: { runnable: 25, queued: 25 } }).starts).toEqual([{ pool: 'a', generation: 1, count: 2 }]);
    expect(plan([p], ready, { a: { runnable: 1000, queued: 1000 } }).starts).toEqual([{ pool: 'a', generation: 1, count: 2 }]);
    expect(plan([p], ready, { a: { runnable: 10, queued: 10 } }).starts).toEqual([]);
  });

  it('starts nothing more while one of the pool\'s replicas waits for room on a node', () => {
    const p = poolOf({ name: 'a', maxReplicas: 5, targetBacklog: 1 });
    expect(plan([p], [replicaOf(p, 'pending')], { a: { runnable: 50, queued: 50 } }).starts).toEqual([]);
  });

  it('stops a ready replica idle past the timeout, down to minReplicas, only when nothing is queued', () => {
    const p = poolOf({ name: 'a', minReplicas: 1, maxReplicas: 3, idleTimeoutSeconds: 30 });
    const idle = replicaOf(p, 'ready', { lastActiveAt: NOW - 31_000 });
    const idle2 = replicaOf(p, 'ready', { lastActiveAt: NOW - 60_000 });
    const busy = replicaOf(p, 'ready', { lastActiveAt: NOW - 1000 });
    const stops = plan([p], [idle, idle2, busy], {}).stops;
    expect(stops).toEqual([
      { jobId: idle2.jobId, pool: 'a', reason: 'idle' },
      { jobId: idle.jobId, pool: 'a', reason: 'idle' },
    ]);
    expect(plan([p], [idle, idle2], {}).stops).toEqual([{ jobId: idle2.jobId, pool: 'a', reason: 'idle' }]);
    expect(plan([p], [idle, idle2, busy], { a: { queued: 1, runnable: 1 } }).stops).toEqual([]);
  });

  it('scales to zero: the last idle replica of a pool with minReplicas 0 is stopped', () => {
    const p = poolOf({ name: 'a', idleTimeoutSeconds: 5 });
    const r = replicaOf(p, 'ready', { lastActiveAt: NOW - 5000 });
    expect(plan([p], [r], {}).stops).toEqual([{ jobId: r.jobId, pool: 'a', reason: 'idle' }]);
  });

  it('asks every live replica of a stopped pool to stop, and starts none', () => {
    const p = poolOf({ name: 'a', minReplicas: 2, maxReplicas: 2 }, { state: 'stopped' });
    const rs = [replicaOf(p, 'ready'), replicaOf(p, 'starting'), replicaOf(p, 'stopping'), replicaOf(p, 'ended')];
    const out = plan([p], rs, { a: { runnable: 9, queued: 9 } });
    expect(out.starts).toEqual([]);
    expect(out.stops.map((s) => s.jobId)).toEqual([rs[0]!.jobId, rs[1]!.jobId]);
    expect(out.stops.every((s) => s.reason === 'stopped')).toBe(true);
  });

  it('replaces an older generation one replica per ready new one (rolling)', () => {
    const p = poolOf({ name: 'a', minReplicas: 2, maxReplicas: 2 }, { generation: 2 });
    const old = [replicaOf(p, 'ready', { generation: 1, createdAt: 1 }), replicaOf(p, 'ready', { generation: 1, createdAt: 2 })];
    expect(plan([p], old, {}).starts).toEqual([{ pool: 'a', generation: 2, count: 2 }]);
    expect(plan([p], old, {}).stops).toEqual([]);
    const oneNewReady = [...old, replicaOf(p, 'ready'), replicaOf(p, 'starting')];
    expect(plan([p], oneNewReady, {}).stops).toEqual([{ jobId: old[0]!.jobId, pool: 'a', reason: 'replaced' }]);
  });

  it('replaces old replicas still waiting for a node at once, and starts new ones beside them', () => {
    // The update that fixes a node selector no node matched: the old replicas would never be placed.
    const p = poolOf({ name: 'a', minReplicas: 2, maxReplicas: 2 }, { generation: 2 });
    const old = [replicaOf(p, 'pending', { generation: 1 }), replicaOf(p, 'pending', { generation: 1 })];
    const out = plan([p], old, {});
    expect(out.stops).toEqual(old.map((r) => ({ jobId: r.jobId, pool: 'a', reason: 'replaced' })));
    expect(out.starts).toEqual([{ pool: 'a', generation: 2, count: 2 }]);
  });

  it('backs off restarts after crashes no replica started since has recovered from, as the pool\'s backoff says', () => {
    const p = poolOf({ name: 'a', minReplicas: 1, backoff: { initialSeconds: 10, maxSeconds: 100, multiplier: 2 } });
    const crashed = (endedAt: number) => replicaOf(p, 'ended', { endReason: 'crashed', endedAt, readyAt: null });
    // One crash 1 s ago: 10 s nominal, jitter 0.5 → 7.5 s.
    const one = [crashed(NOW - 1000)];
    expect(restartNotBefore(p, one, 0.5)).toBe(NOW - 1000 + 7500);
    const out = plan([p], one, {});
    expect(out.starts).toEqual([]);
    expect(out.backingOff).toEqual([{ pool: 'a', until: NOW + 6500 }]);
    // Two crashes: 20 s nominal.
    expect(restartNotBefore(p, [crashed(NOW - 2000), crashed(NOW - 1000)], 1)).toBe(NOW - 1000 + 20_000);
    // A stop asked for is not a crash; nor is a crash that a replica started after it recovered from (it became ready).
    expect(restartNotBefore(p, [replicaOf(p, 'ended', { endReason: 'idle' })], 0.5)).toBeNull();
    expect(restartNotBefore(p, [crashed(NOW - 9000), replicaOf(p, 'ready', { createdAt: NOW - 8000, readyAt: NOW - 5000 })], 0.5)).toBeNull();
    // A replica started before the crash that became ready after it says nothing of the restart: the pool still backs off
    // (replicas evicted for memory pressure while their siblings were still loading).
    const pressured = replicaOf(p, 'ended', { endReason: 'memory-pressure', createdAt: NOW - 20_000, endedAt: NOW - 1000, readyAt: null });
    expect(restartNotBefore(p, [pressured, replicaOf(p, 'ready', { createdAt: NOW - 20_000, readyAt: NOW - 500 })], 0.5)).toBe(NOW - 1000 + 7500);
    expect(plan([p], [crashed(NOW - 60_000)], {}).starts).toEqual([{ pool: 'a', generation: 1, count: 1 }]);
  });

  it('never lets all pools\' replicas hold more GPUs than the cap, serving pools in name order', () => {
    const a = poolOf({ name: 'a', gpus: 2, minReplicas: 3, maxReplicas: 3 });
    const b = poolOf({ name: 'b', gpus: 1, minReplicas: 2, maxReplicas: 2 });
    const out = plan([b, a], [replicaOf(a, 'ready')], {}, { gpuLimit: 5 });
    // a holds 2; a wants 2 more replicas (4 GPUs) but gets 1 (2 GPUs, 4 held); b gets the last GPU.
    expect(out.starts).toEqual([
      { pool: 'a', generation: 1, count: 1 },
      { pool: 'b', generation: 1, count: 1 },
    ]);
    expect(out.capped).toEqual([
      { pool: 'a', gpus: 2 },
      { pool: 'b', gpus: 1 },
    ]);
  });

  it('counts GPUs of pending replicas by their spec and of placed ones by their devices', () => {
    const a = poolOf({ name: 'a', gpus: 2 });
    expect(poolGpusHeld([a], [replicaOf(a, 'pending'), replicaOf(a, 'ready'), replicaOf(a, 'ended')])).toBe(4);
  });
});
