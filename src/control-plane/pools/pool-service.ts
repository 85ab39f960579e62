import type { Logger } from 'pino';
import type { JobOwner } from '../../core/access.js';
import type { Clock } from '../../core/clock.js';
import { DrainingError, PoolNotFoundError, ReplicaGoneError, TaskNotFoundError, UnschedulableError, ValidationError } from '../../core/errors.js';
import { mergePoolUpdate, parsePoolSpec, parseTaskInputs, type Pool, type PoolReplica, type PoolSpec, type PoolTask, type ReplicaEndReason } from '../../core/pool-spec.js';
import { replicaJobSpec } from '../../core/pool-replica-spec.js';
import type { PoolView } from '../../core/pool-view.js';
import { unschedulableReason } from '../../core/scheduler/fits.js';
import type { NodeCapacity } from '../../core/scheduler/snapshot.js';
import type { MaintenanceMode } from '../../core/types.js';
import type { AuditOf } from '../../store/access-store.js';
import type { PageRequest, Page } from '../../store/page.js';
import type { TaskOutcome } from '../../store/pool-store.js';
import type { StoreEvent } from '../../store/store-events.js';
import type { Store } from '../../store/store.js';
import type { PoolMetrics } from './pool-metrics.js';
import { ReplicaCredentials } from './replica-credentials.js';
import { TaskWaiters } from './task-waiters.js';

/** How long ended replicas stay in a pool's view. */
const ENDED_SHOWN_MS = 10 * 60_000;
/** The window of a pool's throughput figures. */
const THROUGHPUT_WINDOW_MS = 60_000;

export interface PoolServiceOptions {
  /** `--pool-gpu-limit`: most GPUs all pools' replicas hold together; null: no cap. */
  gpuLimit: number | null;
  random?: () => number;
}

/** What the pool use cases need of the rest of the control plane. */
export interface PoolServiceDeps {
  store: Store;
  clock: Clock;
  metrics: PoolMetrics;
  log: Logger;
  /** Cancels replica jobs (SIGTERM, grace, SIGKILL on their agents): ControlPlane.cancel. */
  cancelJobs: (ids: number[], reason: string) => Promise<unknown>;
  /** Node capacities, for the submit-time check that a replica could ever be placed. */
  capacity: () => Promise<NodeCapacity[]>;
  maintenance: () => MaintenanceMode;
}

/**
 * The pools' use cases (ADR 0016): definitions (create, update, stop, start, evict, delete), tasks (submit,
 * read, wait, replay) and the replica hosts' side (ready, exchange, end). Decisions come from core/; state
 * lives in the store; this server keeps only the waiters of its own callers.
 */
export class PoolService {
  private credentials: ReplicaCredentials | null = null;
  private readonly waiters: TaskWaiters;
  private readonly random: () => number;
  private closed = false;
  /** Called when pools or their replicas may need the controller (a definition changed, tasks arrived). */
  onChange: () => void = () => {};

  constructor(
    private readonly deps: PoolServiceDeps,
    private readonly options: PoolServiceOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.waiters = new TaskWaiters((pool, ids) => deps.store.getTasks(pool, ids));
  }

  async init(): Promise<void> {
    this.credentials = new ReplicaCredentials(await this.deps.store.poolCredentialKey());
  }

  get replicaCredentials(): ReplicaCredentials {
    if (!this.credentials) throw new Error('PoolService.init() has not run');
    return this.credentials;
  }

  /** The store's events: wake the waiters they concern. */
  onStoreEvent(e: StoreEvent): void {
    if (e.type === 'pool-tasks') this.waiters.workChanged(e.pools);
    else if (e.type === 'pool-results') this.waiters.resultsChanged(e.pools, e.tasks);
    // A stop request or a stopped pool: the hosts waiting for work hear it at once.
    else if (e.type === 'pools') this.waiters.workChanged(null);
    else if (e.type === 'resync') {
      this.waiters.workChanged(null);
      this.waiters.resultsChanged(null);
    }
    if (e.type === 'pool-tasks' || e.type === 'pools' || e.type === 'resync') this.onChange();
  }

  close(): void {
    this.closed = true;
    this.waiters.close();
  }

  // ── definitions ────────────────────────────────────────────────────────

  async create(input: unknown, audit?: AuditOf<Pool>): Promise<Pool> {
    const spec = parsePoolSpec(input);
    await this.checkPlaceable(spec);
    const pool = await this.deps.store.createPool(spec, this.deps.clock.now(), audit);
    this.deps.log.info({ pool: pool.name }, 'pool created');
    return pool;
  }

  async update(name: string, patch: unknown, audit?: AuditOf<Pool | null>): Promise<Pool> {
    const current = await this.pool(name);
    const spec = mergePoolUpdate(current.spec, patch);
    await this.checkPlaceable(spec);
    const pool = await this.deps.store.updatePool(name, spec, this.deps.clock.now(), audit);
    if (!pool) throw new PoolNotFoundError(name);
    this.deps.log.info({ pool: name, generation: pool.generation }, 'pool updated: its replicas are replaced');
    return pool;
  }

  async setState(name: string, state: 'active' | 'stopped', audit?: AuditOf<Pool[]>): Promise<Pool> {
    await this.pool(name);
    await this.deps.store.setPoolState([name], state, this.deps.clock.now(), audit);
    return this.pool(name);
  }

  async stopAll(audit?: AuditOf<Pool[]>): Promise<Pool[]> {
    return this.deps.store.setPoolState('all', 'stopped', this.deps.clock.now(), audit);
  }

  /**
   * Evicts a pool now: it is stopped (no replica starts until `start`), and its live replicas are killed
   * (SIGTERM, grace, SIGKILL); their in-flight tasks are redelivered once the pool runs again.
   */
  async evict(name: string, reason: string, audit?: AuditOf<Pool[]>): Promise<number[]> {
    await this.pool(name);
    const now = this.deps.clock.now();
    await this.deps.store.setPoolState([name], 'stopped', now, audit);
    const live = (await this.deps.store.listPoolReplicas({ pool: name, endedSince: now })).filter((r) => r.state !== 'ended');
    return this.killReplicas(live, 'evicted', `evicted: ${reason}`);
  }

  /** Deletes a pool with its tasks; its live replicas are killed. */
  async delete(name: string, audit?: AuditOf<number[] | null>): Promise<number[]> {
    const live = await this.deps.store.deletePool(name, this.deps.clock.now(), audit);
    if (live === null) throw new PoolNotFoundError(name);
    if (live.length > 0) await this.deps.cancelJobs(live, `pool ${name} deleted`);
    this.waiters.workChanged([name]);
    return live;
  }

  /** Kills replicas now (their host shuts its worker down within the grace), recording why. */
  async killReplicas(replicas: PoolReplica[], reason: ReplicaEndReason, detail: string): Promise<number[]> {
    const now = this.deps.clock.now();
    for (const r of replicas) await this.deps.store.recordReplicaEnd(r.jobId, reason, detail, now);
    const ids = replicas.map((r) => r.jobId);
    if (ids.length > 0) await this.deps.cancelJobs(ids, detail);
    return ids;
  }

  async pool(name: string): Promise<Pool> {
    const pool = await this.deps.store.getPool(name);
    if (!pool) throw new PoolNotFoundError(name);
    return pool;
  }

  async views(name?: string): Promise<PoolView[]> {
    const now = this.deps.clock.now();
    const pools = name === undefined ? await this.deps.store.listPools() : [await this.pool(name)];
    const [replicas, backlogs, coldStarts] = await Promise.all([
      this.deps.store.listPoolReplicas({ pool: name, endedSince: now - ENDED_SHOWN_MS }),
      this.deps.store.poolBacklogs(now, now - THROUGHPUT_WINDOW_MS),
      Promise.all(pools.map((p) => this.deps.store.lastColdStart(p.name))),
    ]);
    return pools.map((pool, i) => {
      const mine = replicas.filter((r) => r.pool === pool.name);
      const b = backlogs.find((x) => x.pool === pool.name);
      return {
        ...pool,
        replicas: mine,
        backlog: { runnable: b?.runnable ?? 0, queued: b?.queued ?? 0, running: b?.running ?? 0 },
        throughput: { succeededPerSecond: (b?.succeededSince ?? 0) / (THROUGHPUT_WINDOW_MS / 1000), failedPerSecond: (b?.failedSince ?? 0) / (THROUGHPUT_WINDOW_MS / 1000) },
        gpusHeld: mine.reduce((n, r) => n + (r.state === 'ended' ? 0 : r.devices.length), 0),
        coldStart: coldStarts[i] ?? null,
      };
    });
  }

  // ── tasks ──────────────────────────────────────────────────────────────

  async submit(name: string, inputs: unknown, owner: JobOwner | null): Promise<{ task: PoolTask; created: boolean }[]> {
    if (this.deps.maintenance() === 'drain') throw new DrainingError();
    const tasks = parseTaskInputs(inputs);
    const out = await this.deps.store.submitTasks(name, tasks, this.deps.clock.now(), owner);
    this.onChange();
    return out;
  }

  async task(name: string, id: number, waitMs: number): Promise<PoolTask> {
    const [task] = waitMs > 0 ? await this.waiters.waitForResults(name, [id], waitMs) : await this.deps.store.getTasks(name, [id]);
    if (!task) {
      await this.pool(name);
      throw new TaskNotFoundError(name, id);
    }
    return task;
  }

  /** The tasks once all are final, or as they are after `waitMs`. */
  waitForTasks(name: string, ids: number[], waitMs: number): Promise<PoolTask[]> {
    return this.waiters.waitForResults(name, ids, waitMs);
  }

  async listTasks(name: string, filter: { states?: PoolTask['state'][]; inDlq?: boolean }, page: PageRequest): Promise<Page<PoolTask>> {
    await this.pool(name);
    return this.deps.store.listTasks(name, filter, page);
  }

  async replay(name: string, selector: { ids: number[] } | { all: true }, audit?: AuditOf<PoolTask[]>): Promise<PoolTask[]> {
    await this.pool(name);
    return this.deps.store.replayTasks(name, selector, this.deps.clock.now(), audit);
  }

  // ── the replica hosts' side (authenticated by the attempt's credential) ─

  /** Throws ReplicaGoneError unless `credential` is that attempt's. */
  authenticateReplica(jobId: number, attemptId: number, credential: string): void {
    if (!this.replicaCredentials.verify(jobId, attemptId, credential)) throw new ReplicaGoneError(jobId, `the credential is not attempt ${attemptId}'s`);
  }

  async replicaReady(jobId: number, attemptId: number): Promise<void> {
    if (!(await this.deps.store.markReplicaReady(jobId, attemptId, this.deps.clock.now()))) throw new ReplicaGoneError(jobId, `attempt ${attemptId} is not its live attempt`);
    this.deps.log.info({ jobId, attemptId }, 'pool replica ready');
  }

  async replicaEnd(jobId: number, reason: ReplicaEndReason, detail: string | null): Promise<void> {
    await this.deps.store.recordReplicaEnd(jobId, reason, detail, this.deps.clock.now());
  }

  /**
   * One round trip of a replica host: records the results it brings, then hands it up to `want` tasks, waiting
   * up to `waitMs` for some when none is queued. `stop`: finish in-flight tasks and exit. `held`: the tasks the host
   * holds; those running under its attempt and not held (an earlier answer to it was lost) come first, at the same
   * attempt number (store claimTasks). The results are recorded before the claim, so a task answered here is no
   * longer running when the claim looks.
   */
  async exchange(pool: string, jobId: number, attemptId: number, results: TaskOutcome[], held: readonly number[], want: number, waitMs: number): Promise<{ tasks: { id: number; attempt: number; payload: unknown }[]; stop: boolean }> {
    if (results.length > 0) await this.recordResults(pool, jobId, attemptId, results);
    const deadline = this.deps.clock.now() + waitMs;
    for (;;) {
      const seq = this.waiters.workSeq(pool);
      const claimed = await this.deps.store.claimTasks(jobId, attemptId, want, this.deps.clock.now(), held);
      if (claimed === 'gone') throw new ReplicaGoneError(jobId, `attempt ${attemptId} is not its live attempt`);
      if (claimed === 'stop') return { tasks: [], stop: true };
      const left = deadline - this.deps.clock.now();
      if (claimed.length > 0 || want === 0 || left <= 0 || this.closed) return { tasks: claimed, stop: false };
      await this.waiters.waitForWork(pool, seq, left);
    }
  }

  private async recordResults(pool: string, jobId: number, attemptId: number, results: TaskOutcome[]): Promise<void> {
    const now = this.deps.clock.now();
    const done = await this.deps.store.completeTasks(jobId, attemptId, results, now, this.random);
    const m = this.deps.metrics;
    for (const d of done) {
      if (!d.accepted) continue;
      const outcome = d.state === 'succeeded' ? 'succeeded' : d.state === 'queued' ? 'retried' : 'failed';
      m.tasks.inc({ pool, outcome });
      if (d.startedAt !== undefined) {
        if (d.createdAt !== undefined) m.taskWait.observe({ pool }, Math.max(0, d.startedAt - d.createdAt) / 1000);
        m.taskRun.observe({ pool }, Math.max(0, now - d.startedAt) / 1000);
      }
      if (d.cold && d.state === 'succeeded' && d.createdAt !== undefined) {
        m.coldStarts.inc({ pool });
        m.coldStart.observe({ pool }, Math.max(0, now - d.createdAt) / 1000);
      }
    }
  }

  /** A pool whose replica could never be placed (no node has that many GPUs, CPUs, memory or the labels), or that alone exceeds the pools' GPU cap, is refused. */
  private async checkPlaceable(spec: PoolSpec): Promise<void> {
    const limit = this.options.gpuLimit;
    if (limit !== null && spec.gpus > limit) throw new ValidationError([{ path: 'gpus', message: `one replica needs ${spec.gpus} GPUs, more than all pools may hold together (--pool-gpu-limit ${limit})` }]);
    const job = replicaJobSpec({ name: spec.name, spec, state: 'active', generation: 1, createdAt: 0, updatedAt: 0 });
    if (job.gpus === 0 && job.cpus === 0 && job.memoryMb === 0 && Object.keys(job.nodeSelector).length === 0) return;
    const why = unschedulableReason(job, await this.deps.capacity());
    if (why !== null) throw new UnschedulableError(`a replica of pool ${spec.name} can never be placed: ${why}`);
  }
}
