import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { NotLeaderError } from '../../core/errors.js';
import { replicaJobSpec } from '../../core/pool-replica-spec.js';
import { planPressureEvictions, settled } from '../../core/pool-eviction.js';
import { planPools } from '../../core/pool-scaling.js';
import type { Pool, PoolReplica, ReplicaEndReason } from '../../core/pool-spec.js';
import type { Fence } from '../../store/leadership.js';
import type { Store } from '../../store/store.js';
import { SerialLoop } from '../serial-loop.js';
import type { PoolMetrics } from './pool-metrics.js';

/** Ended replicas are read back this far, for the restart backoff and to count each end once. */
const ENDED_WINDOW_MS = 10 * 60_000;
/** Passes are this far apart at least: wakes come with every job end and every submit. */
const MIN_SPACING_MS = 25;

export interface PoolControllerOptions {
  /** A pass at least this often (the backstop of events: task deadlines, idle timeouts, backoffs). */
  periodMs: number;
  gpuLimit: number | null;
  /** Evict replicas from a node whose available host memory is under this percent of its total; 0: never (core/pool-eviction.ts). */
  memoryPressurePct: number;
  random?: () => number;
}

/**
 * The leader's pool loop (ADR 0016). Each pass: redelivers tasks whose replica ended or whose deadline
 * passed (store.redeliverTasks), reads every pool, its replicas and backlog, asks core/pool-scaling.ts for
 * a plan, and applies it: replica jobs submitted (the scheduler places them like any job) and replicas asked
 * to stop. Every write carries the leader's fence. Passes never overlap; a wake during a pass runs one more.
 * Started when this server is elected, stopped when it is deposed: a new leader rehydrates every pool from
 * the store at its first pass, since nothing here outlives a pass but the ends it has counted.
 */
export class PoolController {
  private readonly loop: SerialLoop;
  private readonly random: () => number;
  /** Ended replicas already counted in the metrics (within ENDED_WINDOW_MS). */
  private readonly counted = new Map<number, number>();
  /** Replicas found over their pool's GPU memory limit (acted on once each). */
  private readonly overLimit = new Set<number>();
  /** Whether a pass of this term has read the replicas yet. */
  private seenFirstPass = false;
  /** Per node, the replica attempt last evicted there for memory pressure: the node waits until it ended and reported since. */
  private readonly pressureEvictions = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly leaderWrite: <T>(write: (fence: Fence) => Promise<T>) => Promise<T>,
    private readonly clock: Clock,
    private readonly metrics: PoolMetrics,
    private readonly log: Logger,
    /** Kills replicas now, recording why (PoolService.killReplicas). */
    private readonly kill: (replicas: PoolReplica[], reason: ReplicaEndReason, detail: string) => Promise<unknown>,
    private readonly options: PoolControllerOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.loop = new SerialLoop(() => this.pass(), {
      periodMs: options.periodMs,
      minSpacingMs: MIN_SPACING_MS,
      onError: (err) => {
        if (!(err instanceof NotLeaderError)) this.log.warn({ err }, 'pool controller pass failed; the next one retries');
      },
    });
  }

  start(): void {
    if (this.loop.started) return;
    this.seenFirstPass = false;
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Runs a pass soon: once the current one ends, if one runs, and at most one every MIN_SPACING_MS. */
  wake(): void {
    this.loop.wake();
  }

  async pass(): Promise<void> {
    const now = this.clock.now();
    const redelivered = await this.leaderWrite((fence) => this.store.redeliverTasks(now, fence));
    for (const r of redelivered) this.metrics.redeliveries.inc({ pool: r.pool, reason: r.reason });
    if (redelivered.length > 0) this.log.info({ tasks: redelivered.length }, 'pool tasks redelivered (their replica ended or they timed out)');

    const pools = await this.store.listPools();
    const replicas = await this.store.listPoolReplicas({ endedSince: now - ENDED_WINDOW_MS });
    this.countEnds(replicas, now);
    if (pools.length === 0) return;
    const backlogs = new Map((await this.store.poolBacklogs(now, now)).map((b) => [b.pool, b]));
    const plan = planPools({ pools, replicas, backlogs, now, gpuLimit: this.options.gpuLimit, random: this.random() });

    // A replica not placed yet holds nothing and runs nothing: its job is cancelled rather than asked to stop.
    const pendingById = new Map(replicas.filter((r) => r.state === 'pending').map((r) => [r.jobId, r]));
    const byReason = new Map<ReplicaEndReason, number[]>();
    for (const s of plan.stops) {
      const pending = pendingById.get(s.jobId);
      if (pending) await this.kill([pending], s.reason, `${s.reason} before it was placed on a node`);
      else byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.jobId]);
    }
    for (const [reason, ids] of byReason) {
      await this.leaderWrite((fence) => this.store.requestReplicaStop(ids, reason, now, fence));
      this.log.info({ replicas: ids, reason }, 'pool replicas asked to stop');
    }
    for (const start of plan.starts) {
      const pool = pools.find((p) => p.name === start.pool)!;
      const specs = Array.from({ length: start.count }, () => replicaJobSpec(pool));
      const started = await this.leaderWrite((fence) => this.store.startReplicas(pool.name, start.generation, specs, now, fence));
      if (started.length > 0) {
        this.metrics.replicaStarts.inc({ pool: pool.name }, started.length);
        this.log.info({ pool: pool.name, replicas: started.map((r) => r.jobId) }, 'pool replicas started');
      }
    }
    await this.checkGpuMemory(pools, replicas);
    await this.checkHostMemory(pools, replicas);
  }

  /**
   * Host memory pressure (core/pool-eviction.ts): on each node whose available memory is under the threshold,
   * one replica is evicted (end reason memory-pressure, its tasks redelivered), and the node is considered again
   * once that replica's processes have ended and the node has reported its memory since.
   */
  private async checkHostMemory(pools: Pool[], replicas: PoolReplica[]): Promise<void> {
    const pct = this.options.memoryPressurePct;
    if (pct <= 0 || !replicas.some((r) => r.state !== 'ended' && r.nodeId !== null)) return;
    const settling = new Map<string, number | null>();
    for (const [nodeId, attemptId] of this.pressureEvictions) {
      const attempt = await this.store.getAttempt(attemptId);
      settling.set(nodeId, attempt === null ? 0 : attempt.endedAt);
    }
    const nodes = await this.store.listNodes();
    for (const node of nodes) {
      const until = settling.get(node.id);
      if (until !== undefined && node.hostMemory !== null && settled(node.hostMemory, until)) {
        this.pressureEvictions.delete(node.id);
        settling.delete(node.id);
      }
    }
    for (const e of planPressureEvictions({ nodes, pools, replicas, thresholdPct: pct, settling })) {
      const victim = replicas.find((r) => r.jobId === e.jobId)!;
      this.log.warn({ pool: e.pool, jobId: e.jobId, nodeId: e.nodeId }, `pool replica evicted: ${e.detail}`);
      if (victim.attemptId !== null) this.pressureEvictions.set(e.nodeId, victim.attemptId);
      await this.kill([victim], 'memory-pressure', e.detail);
    }
  }

  /**
   * A pool's GPU memory limit (memoryPolicy.gpuMemoryLimitMb), from its replicas' live GPU figures (reported with
   * their telemetry): a replica whose peak on any of its GPUs reached it is out of memory. With killOnOom it is
   * killed (end reason oom, its tasks redelivered, a fresh one started); without, it is logged once.
   */
  private async checkGpuMemory(pools: Pool[], replicas: PoolReplica[]): Promise<void> {
    for (const pool of pools) {
      const limit = pool.spec.memoryPolicy.gpuMemoryLimitMb;
      if (limit === undefined) continue;
      for (const r of replicas) {
        if (r.pool !== pool.name || r.attemptId === null || r.state === 'ended' || r.state === 'pending' || this.overLimit.has(r.jobId)) continue;
        const over = (await this.store.listGpuUsage(r.jobId)).find((u) => u.attemptId === r.attemptId && u.peakMemoryMb !== null && u.peakMemoryMb >= limit);
        if (!over) continue;
        this.overLimit.add(r.jobId);
        const detail = `GPU ${over.device} memory reached ${over.peakMemoryMb} MiB; the pool's limit is ${limit} MiB`;
        this.log.warn({ pool: pool.name, jobId: r.jobId, killOnOom: pool.spec.memoryPolicy.killOnOom }, `pool replica out of GPU memory: ${detail}`);
        if (pool.spec.memoryPolicy.killOnOom) await this.kill([r], 'oom', detail);
      }
    }
    if (this.overLimit.size > 10_000) this.overLimit.clear();
  }

  /** Counts each replica end once: the first pass that sees it ended. */
  private countEnds(replicas: PoolReplica[], now: number): void {
    for (const [id, at] of this.counted) if (at < now - ENDED_WINDOW_MS) this.counted.delete(id);
    for (const r of replicas) {
      if (r.state !== 'ended' || this.counted.has(r.jobId)) continue;
      this.counted.set(r.jobId, r.endedAt ?? now);
      // A new leader sees ends from before its term: those were counted by the leader of their time.
      if (this.seenFirstPass) this.metrics.replicaEnded(r);
    }
    this.seenFirstPass = true;
  }
}
