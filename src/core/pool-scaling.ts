import type { Pool, PoolReplica, ReplicaEndReason } from './pool-spec.js';
import { backoffMs } from './retry-policy.js';

/**
 * The pool controller's decision (ADR 0016), pure: given every pool, its replicas and its backlog at `now`,
 * which replicas to start and which to ask to stop. The controller applies the plan through the store
 * (fenced by the leader's term) and plans again on its next pass; nothing here remembers anything.
 *
 * Per pool, over the replicas of its current generation that are not stopping ("active"):
 * - stopped pool: every live replica is asked to stop (graceful); none is started.
 * - scale up: wanted = clamp(ceil(runnable / targetBacklog), minReplicas, maxReplicas), at least 1 while any
 *   task is queued or running (a task for a pool at zero starts a replica: the cold start). A replica is started
 *   while active < wanted, but none while one of the pool's current replicas is still pending (it waits for room on a
 *   node: starting more would only queue more), and none before the restart backoff after crashes has passed.
 * - scale down: a ready replica with nothing to do for idleTimeoutSeconds is asked to stop while active > minReplicas
 *   and nothing is queued.
 * - rolling update: replicas of an older generation are asked to stop one for each current one that is ready
 *   (so capacity never drops below what is ready), or all of them when the pool needs none; those still pending
 *   (never placed) at once.
 * - a stop of a pending replica means its job is cancelled (the controller does that): it holds nothing yet.
 * - GPU cap (`--pool-gpu-limit`): the GPUs of every live replica of every pool plus those of the replicas started
 *   never exceed the cap; pools are served in name order, each start taking its GPUs from what is left.
 */

export interface PoolBacklogCounts {
  runnable: number;
  queued: number;
  running: number;
}

export interface PoolPlanInput {
  pools: Pool[];
  /** Replicas of every pool: live ones and those ended recently (for the restart backoff). */
  replicas: PoolReplica[];
  backlogs: ReadonlyMap<string, PoolBacklogCounts>;
  now: number;
  /** Most GPUs all pools' live replicas may hold together; null: no cap. */
  gpuLimit: number | null;
  /** In [0, 1): the restart backoff's jitter. */
  random: number;
}

export interface ReplicaStop {
  jobId: number;
  pool: string;
  reason: ReplicaEndReason;
}

export interface PoolPlan {
  /** Replicas to start, per pool (of its current generation). */
  starts: { pool: string; generation: number; count: number }[];
  stops: ReplicaStop[];
  /** Pools that want a replica the GPU cap leaves no room for, and how many GPUs they were short of. */
  capped: { pool: string; gpus: number }[];
  /** Pools waiting for the restart backoff after crashes, until when. */
  backingOff: { pool: string; until: number }[];
}

/**
 * End reasons that count as a crash for the restart backoff: the replica did not end because it was asked to,
 * or its node ran short of memory (restarting at once would only load the model into the same shortage).
 */
const CRASH_REASONS: ReadonlySet<ReplicaEndReason> = new Set(['crashed', 'oom', 'memory-pressure', 'start-timeout', 'task-timeout', 'protocol-error', 'lost']);

export function isCrash(reason: ReplicaEndReason | null): boolean {
  return reason !== null && CRASH_REASONS.has(reason);
}

/** GPUs held by live replicas (not ended): what counts against the cap. */
export function poolGpusHeld(pools: readonly Pool[], replicas: readonly PoolReplica[]): number {
  const gpusOf = new Map(pools.map((p) => [p.name, p.spec.gpus]));
  let held = 0;
  for (const r of replicas) if (r.state !== 'ended') held += r.devices.length > 0 ? r.devices.length : (gpusOf.get(r.pool) ?? 0);
  return held;
}

/**
 * When the pool may start its next replica after crashes: the crashes no replica started after them has
 * recovered from (by becoming ready) back off like a job's retries (the pool's backoff); null when it may
 * start now. A replica started before a crash that becomes ready after it proves nothing of a restart.
 */
export function restartNotBefore(pool: Pool, replicas: readonly PoolReplica[], random: number): number | null {
  let lastReadyStart = -Infinity;
  for (const r of replicas) if (r.readyAt !== null && r.createdAt > lastReadyStart) lastReadyStart = r.createdAt;
  let crashes = 0;
  let lastCrashAt = -Infinity;
  for (const r of replicas) {
    if (r.state !== 'ended' || !isCrash(r.endReason) || r.endedAt === null || r.endedAt < lastReadyStart) continue;
    crashes++;
    if (r.endedAt > lastCrashAt) lastCrashAt = r.endedAt;
  }
  if (crashes === 0) return null;
  return lastCrashAt + backoffMs(pool.spec.backoff, crashes, random);
}

export function planPools(input: PoolPlanInput): PoolPlan {
  const plan: PoolPlan = { starts: [], stops: [], capped: [], backingOff: [] };
  let gpusLeft = input.gpuLimit === null ? Infinity : input.gpuLimit - poolGpusHeld(input.pools, input.replicas);
  const byPool = new Map<string, PoolReplica[]>();
  for (const r of input.replicas) {
    const list = byPool.get(r.pool);
    if (list) list.push(r);
    else byPool.set(r.pool, [r]);
  }
  for (const pool of [...input.pools].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const replicas = byPool.get(pool.name) ?? [];
    const live = replicas.filter((r) => r.state !== 'ended');
    if (pool.state === 'stopped') {
      for (const r of live) if (r.state !== 'stopping') plan.stops.push({ jobId: r.jobId, pool: pool.name, reason: 'stopped' });
      continue;
    }
    const backlog = input.backlogs.get(pool.name) ?? { runnable: 0, queued: 0, running: 0 };
    const spec = pool.spec;
    const current = live.filter((r) => r.generation === pool.generation && r.state !== 'stopping');
    const old = live.filter((r) => r.generation !== pool.generation && r.state !== 'stopping');
    const busy = backlog.queued + backlog.running > 0;
    const forLoad = Math.ceil(backlog.runnable / spec.targetBacklog);
    const wanted = Math.min(spec.maxReplicas, Math.max(spec.minReplicas, forLoad, busy ? 1 : 0));

    // Scale down: idle ready replicas above the minimum, newest activity kept longest.
    let active = current.length;
    if (backlog.queued === 0) {
      const idle = current
        .filter((r) => r.state === 'ready' && (r.lastActiveAt ?? r.readyAt ?? input.now) + spec.idleTimeoutSeconds * 1000 <= input.now)
        .sort((a, b) => (a.lastActiveAt ?? a.readyAt ?? 0) - (b.lastActiveAt ?? b.readyAt ?? 0));
      for (const r of idle) {
        if (active <= spec.minReplicas || (backlog.running > 0 && active <= 1)) break;
        plan.stops.push({ jobId: r.jobId, pool: pool.name, reason: 'idle' });
        active--;
      }
    }

    // Rolling replacement of an older generation. Old replicas still waiting for a node serve nothing and may
    // never be placed (the update may be what fixes their placement): they go at once.
    for (const r of old) if (r.state === 'pending') plan.stops.push({ jobId: r.jobId, pool: pool.name, reason: 'replaced' });
    const oldPlaced = old.filter((r) => r.state !== 'pending');
    const readyCurrent = current.filter((r) => r.state === 'ready').length;
    const oldToStop = wanted === 0 ? oldPlaced.length : Math.min(oldPlaced.length, readyCurrent);
    for (const r of [...oldPlaced].sort((a, b) => a.createdAt - b.createdAt).slice(0, oldToStop)) plan.stops.push({ jobId: r.jobId, pool: pool.name, reason: 'replaced' });

    // Scale up.
    let want = wanted - active;
    if (want <= 0 || current.some((r) => r.state === 'pending')) continue;
    const notBefore = restartNotBefore(pool, replicas, input.random);
    if (notBefore !== null && notBefore > input.now) {
      plan.backingOff.push({ pool: pool.name, until: notBefore });
      continue;
    }
    if (spec.gpus > 0) {
      const room = Math.floor(Math.max(0, gpusLeft) / spec.gpus);
      if (room < want) {
        plan.capped.push({ pool: pool.name, gpus: (want - room) * spec.gpus });
        // The cap leaves no room for a new generation while the old one holds it: give one old replica back.
        if (room === 0 && oldToStop === 0 && oldPlaced.length > 0 && !live.some((r) => r.generation !== pool.generation && r.state === 'stopping')) plan.stops.push({ jobId: oldPlaced[0]!.jobId, pool: pool.name, reason: 'replaced' });
      }
      want = Math.min(want, room);
      gpusLeft -= want * spec.gpus;
    }
    if (want > 0) plan.starts.push({ pool: pool.name, generation: pool.generation, count: want });
  }
  return plan;
}
