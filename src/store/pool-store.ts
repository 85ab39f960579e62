import type { AuditOf } from './access-store.js';
import type { Fence } from './leadership.js';
import type { Page, PageRequest } from './page.js';
import type { JobSpec } from '../core/job-spec.js';
import type { Pool, PoolReplica, PoolSpec, PoolState, PoolTask, ReplicaEndReason, TaskState } from '../core/pool-spec.js';
import type { JobOwner } from '../core/access.js';

/**
 * The Store's warm worker pools (migration 0013, ADR 0016): pool definitions (`pools`), their replicas
 * (`pool_replicas`, one row per replica job; the job itself is an ordinary row of `jobs`), and their tasks
 * (`pool_tasks`). Like every Store method, each is one transaction, durable when it resolves.
 *
 * Task delivery is at least once and fenced by (replica attempt, task attempt): a task is claimed by
 * one live replica attempt at a time; its result counts only while that claim is the task's current one.
 */
export interface PoolStore {
  // ── definitions ────────────────────────────────────────────────────────
  /** Throws PoolExistsError when a pool of that name exists. */
  createPool(spec: PoolSpec, now: number, audit?: AuditOf<Pool>): Promise<Pool>;
  /** Replaces the spec and bumps the generation; null for an unknown pool. */
  updatePool(name: string, spec: PoolSpec, now: number, audit?: AuditOf<Pool | null>): Promise<Pool | null>;
  /** Sets the state of the named pools (all with `names: 'all'`); returns the pools changed (already in that state: left out). */
  setPoolState(names: string[] | 'all', state: PoolState, now: number, audit?: AuditOf<Pool[]>): Promise<Pool[]>;
  /**
   * Deletes a pool with its tasks and replica rows (its replica jobs stay, as ordinary job history).
   * Returns the replica jobs still live (the caller cancels them), or null for an unknown pool.
   */
  deletePool(name: string, now: number, audit?: AuditOf<number[] | null>): Promise<number[] | null>;
  getPool(name: string): Promise<Pool | null>;
  listPools(): Promise<Pool[]>;
  /** This cluster's secret for replica credentials (created at its first call, then always the same). */
  poolCredentialKey(): Promise<string>;

  // ── replicas (leader-only writes are fenced) ─────────────────────────
  /**
   * Submits one job per spec (as submitJobs does, owned by nobody) and records each as a replica of `pool`
   * at `generation`, in one transaction. Refused (nothing stored) when the pool is gone or stopped: returns [].
   */
  startReplicas(pool: string, generation: number, specs: JobSpec[], now: number, fence?: Fence): Promise<PoolReplica[]>;
  /**
   * Replicas of a pool (all pools without one), with state from their job and live attempt; ended ones only when ended after `endedSince`.
   * (Not `listReplicas`: that name is LeadershipStore's, the control-plane servers sharing the store.)
   */
  listPoolReplicas(filter: { pool?: string; endedSince: number }): Promise<PoolReplica[]>;
  /** The replica's live attempt said its worker is ready. False when that attempt is not the replica's live one. */
  markReplicaReady(jobId: number, attemptId: number, now: number): Promise<boolean>;
  /** Asks replicas to stop after their in-flight tasks (graceful); records why, for when they end. */
  requestReplicaStop(jobIds: number[], reason: ReplicaEndReason, now: number, fence?: Fence): Promise<void>;
  /** Records why a replica ended (the first reason recorded wins), with a detail (exit code, OOM line). */
  recordReplicaEnd(jobId: number, reason: ReplicaEndReason, detail: string | null, now: number): Promise<void>;

  // ── tasks ──────────────────────────────────────────────────────────────
  /**
   * Inserts tasks (payloads as JSON text, parsed by core/pool-spec.ts parseTaskInputs). A task whose
   * idempotency key exists in the pool returns the existing task with created=false. Throws
   * PoolNotFoundError for an unknown pool and PoolStoppedError for a stopped one (nothing stored).
   * A task is `cold` when the pool has no ready replica at the commit.
   */
  submitTasks(pool: string, tasks: { payloadJson: string; idempotencyKey?: string }[], now: number, owner?: JobOwner | null): Promise<{ task: PoolTask; created: boolean }[]>;
  getTasks(pool: string, ids: number[]): Promise<PoolTask[]>;
  listTasks(pool: string, filter: { states?: TaskState[]; inDlq?: boolean }, page: PageRequest): Promise<Page<PoolTask>>;
  /**
   * Hands the replica's live attempt up to `max` tasks. First the tasks already running under this very attempt whose
   * ids are not in `held` (the ids its host says it holds): an earlier claim took them but its answer never reached the
   * host (a server killed while answering, a dropped connection). They are handed back as they are, at the same attempt
   * number, oldest first, with a fresh deadline `now + taskTimeout`. Then, up to `max` in all, runnable queued tasks of
   * its pool, oldest first: each goes `running`, its attempts + 1, its deadline `now + taskTimeout`.
   *
   * The look for lost tasks is skipped (one count over the running index) while the attempt runs no more tasks than
   * `held` lists, which is every exchange whose previous answer arrived. (So an id in `held` that the attempt no longer
   * runs can hide a lost task; a host lists such an id only until its own task timeout, which passes before the
   * server's deadline.) Returns `stop` when the replica was asked to
   * stop or its pool is stopped (it should finish in-flight tasks and exit; tasks whose answer was lost then wait for
   * the attempt's end), and `gone` when `attemptId` is not the replica's live attempt (it must exit).
   */
  claimTasks(jobId: number, attemptId: number, max: number, now: number, held: readonly number[]): Promise<ClaimedTask[] | 'stop' | 'gone'>;
  /**
   * Records results and errors of tasks the replica's attempt holds. Each is accepted only when the task is
   * running at that attempt number under that replica attempt (a late answer to a redelivered task is refused).
   * An error with retryable=true and attempts left goes back to queued after the pool's backoff
   * (core/pool-task-policy.ts decides); else the task fails into the pool's DLQ.
   */
  completeTasks(jobId: number, attemptId: number, outcomes: TaskOutcome[], now: number, random: () => number): Promise<CompletedTask[]>;
  /**
   * Leader-only sweep: running tasks whose replica attempt is no longer live, or whose deadline passed, go back to
   * queued (or to the DLQ when attempts are used up), each with a TaskRedelivery in its history.
   */
  redeliverTasks(now: number, fence?: Fence): Promise<Redelivered[]>;
  /** Failed tasks of the pool's DLQ back to queued with a fresh attempt budget. */
  replayTasks(pool: string, selector: { ids: number[] } | { all: true }, now: number, audit?: AuditOf<PoolTask[]>): Promise<PoolTask[]>;
  /** Per pool: queued (runnable now), queued (all), running, and tasks finished since `since` by outcome. */
  poolBacklogs(now: number, since: number): Promise<PoolBacklog[]>;
  /** The pool's latest cold start: its first cold task that succeeded, with the replica that answered it. */
  lastColdStart(pool: string): Promise<ColdStart | null>;
  /** Deletes up to `limit` tasks finished before `before` and not in a DLQ. */
  purgeFinishedTasks(before: number, limit: number, fence?: Fence): Promise<number>;
}

export interface ClaimedTask {
  id: number;
  /** The delivery number: the worker's answer must name it. */
  attempt: number;
  payload: unknown;
}

export type TaskOutcome = { taskId: number; attempt: number; result: unknown } | { taskId: number; attempt: number; error: string; retryable: boolean };

export interface CompletedTask {
  taskId: number;
  accepted: boolean;
  /** The task's pool, when accepted (what the store's events name: store-events.ts `pool-results`). */
  pool?: string;
  /** The task's state after it, when accepted. */
  state?: TaskState;
  createdAt?: number;
  startedAt?: number;
  cold?: boolean;
}

export interface Redelivered {
  taskId: number;
  pool: string;
  replicaJobId: number | null;
  reason: 'replica-ended' | 'task-timeout';
  /** queued again, or failed into the DLQ. */
  state: TaskState;
}

export interface PoolBacklog {
  pool: string;
  runnable: number;
  queued: number;
  running: number;
  /** Tasks finished since the `since` given, by outcome. */
  succeededSince: number;
  failedSince: number;
}

export interface ColdStart {
  taskId: number;
  replicaJobId: number;
  acceptedAt: number;
  replicaReadyAt: number | null;
  resultAt: number;
}
