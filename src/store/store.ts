import type { JobSpec } from '../core/job-spec.js';
import type { AttemptEnd, JobAtAttemptEnd, JobDecision } from '../core/retry-policy.js';
import type { Attempt, DeviceTelemetry, HostMemoryReport, Job, JobEvent, JobState, MaintenanceMode, NodeAdminState, NodeInfo, NodeRegistration } from '../core/types.js';
import type { NodeCapacity, QueuedJob } from '../core/scheduler/snapshot.js';
import type { JobOwner } from '../core/access.js';
import type { JobDependency } from '../core/dependencies.js';
import type { AttemptOutput, JobOutput } from '../core/job-output.js';
import type { AccessStore, AuditOf } from './access-store.js';
import type { GpuUsage } from '../core/gpu-usage.js';
import type { GpuUsageStore } from './gpu-usage-store.js';
import type { Fence, LeadershipStore } from './leadership.js';
import type { FeedStore } from './feed-store.js';
import type { StoreEvents } from './store-events.js';
import type { Page, PageRequest } from './page.js';
import type { ReportStore } from './report-store.js';
import type { JobSort } from '../core/job-sort.js';
import type { PipelineStore } from './pipeline-store.js';
import type { PoolStore } from './pool-store.js';
import type { ScheduleStore } from './schedule-store.js';
import type { TriggerStore } from './trigger-store.js';
import type { IntakeStore } from './intake-store.js';

export type { Page, PageRequest };

/**
 * The Store is the only thing that knows which database gpuq talks to. Every
 * method is one transaction: when its promise resolves, the change is durable
 * (to the level the store was opened with). Decisions (retry or fail, where a
 * job goes) are made in core/ and passed in; the store only applies them.
 */
export interface Store extends AccessStore, FeedStore, GpuUsageStore, LeadershipStore, StoreEvents, ReportStore, PoolStore, IntakeStore, PipelineStore, TriggerStore, ScheduleStore {
  /** Runs pending migrations; idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round trip, for readiness checks. */
  ping(): Promise<void>;

  // ── jobs ────────────────────────────────────────────────────────────────
  /**
   * Inserts jobs in one transaction, owned by `owner` (the submitting token; null or absent with auth off).
   * A spec whose idempotencyKey exists returns the existing job with created=false.
   * Dependencies (spec.dependsOn, core/dependencies.ts) are checked in the same transaction: a job named
   * that does not exist rejects the whole call with VALIDATION_FAILED and stores nothing. A new job waits
   * (queued, unread by the scheduler) for those not ended; one whose dependency already failed or was
   * cancelled is created and failed at once (a `queued` then a `failed` event).
   */
  submitJobs(specs: JobSpec[], now: number, owner?: JobOwner | null): Promise<SubmitOutcome[]>;
  getJob(id: number): Promise<Job | null>;
  /**
   * One page in the sort's order (core/job-sort.ts; default newest first, ties broken by id); the cursor
   * is opaque and belongs to its sort (another sort's cursor is a VALIDATION_FAILED naming `cursor`).
   */
  listJobs(filter: JobFilter, page: PageRequest, sort?: JobSort): Promise<Page<Job>>;
  listAttempts(jobId: number): Promise<Attempt[]>;
  getAttempt(attemptId: number): Promise<Attempt | null>;
  listEvents(jobId: number): Promise<JobEvent[]>;
  /** The jobs a job depends on, by id, with their states; empty for a job without dependencies. */
  listDependencies(jobId: number): Promise<JobDependency[]>;
  /**
   * Cancels jobs. Queued ones end `cancelled` at once; live ones end `cancelled`
   * and their attempts are flagged so the agent kills them (their devices stay
   * held until the agent reports the process gone). Terminal jobs are skipped.
   * Jobs waiting for a cancelled job end `failed`, transitively, in the same transaction.
   */
  cancelJobs(selector: JobSelector, reason: string, now: number, audit?: AuditOf<CancelOutcome>): Promise<CancelOutcome>;
  /**
   * DLQ replay: failed jobs in the DLQ go back to `queued` with a fresh attempt budget. A replayed job
   * with dependencies waits again for those not ended, or fails again at once when one is failed or
   * cancelled (it is returned `failed` then). Jobs that a replayed job's failure had failed stay failed.
   */
  replayJobs(selector: DlqSelector, now: number, audit?: AuditOf<Job[]>): Promise<Job[]>;
  /** Removes jobs from the DLQ (they stay `failed` and are purged by retention). Returns how many. */
  purgeDlq(selector: DlqSelector, now: number, audit?: AuditOf<number>): Promise<number>;

  // ── scheduling ──────────────────────────────────────────────────────────
  /** Nodes with what is free on them, and up to `limit` runnable queued jobs (not_before ≤ now) in priority order. */
  schedulingSnapshot(now: number, limit: number): Promise<{ nodes: NodeCapacity[]; queued: QueuedJob[] }>;
  /**
   * Creates an attempt for each placement whose job is still queued and whose
   * devices are still free; others are skipped (the plan was stale for them).
   *
   * Leader-only writes (this, markNodesDown, the purges, and endAttempts when
   * the reclaimer calls it) take the leader's Fence: with a term that is not
   * the current one they change nothing and reject with NOT_LEADER (leadership.ts).
   */
  applyPlan(placements: Placement[], now: number, leaseMs: number, fence?: Fence): Promise<AssignedAttempt[]>;

  // ── attempts, reported by agents (fenced by attempt: a report for an attempt that is no longer live is refused) ──
  markRunning(reports: StartReport[], now: number): Promise<ReportResult[]>;
  /**
   * Ends attempts and applies each job's decision, recording each accepted report's output. In the same transaction: a job that succeeds meets
   * its dependents' dependency (a dependent whose last one it was becomes runnable); a job that ends
   * failed or cancelled fails the jobs waiting for it, transitively.
   */
  endAttempts(reports: EndReport[], decide: DecideFn, now: number, fence?: Fence): Promise<ReportResult[]>;
  /** Extends the lease of the listed live attempts on a node. Returns the ids still live (others were reclaimed or ended). */
  renewLeases(nodeId: string, attemptIds: number[], expiresAt: number): Promise<number[]>;
  /** Live attempts, optionally of one node. */
  listLiveAttempts(nodeId?: string): Promise<Attempt[]>;
  /** Attempts assigned to a node and not yet reported started, oldest first: what its agent has to run. */
  listAssignedAttempts(nodeId: string): Promise<AssignedAttempt[]>;
  /**
   * What the metrics need of attempts this server did not dispatch (reported through it by an agent
   * another server fed): their job's queue and creation time, their number and start. Unknown ids are left out.
   */
  attemptOrigins(attemptIds: number[]): Promise<AttemptOrigin[]>;
  /** Live attempts whose lease expired before `now`. */
  listExpiredAttempts(now: number): Promise<Attempt[]>;
  /**
   * The output (result and artifact list, core/job-output.ts) an attempt of the job reported with its end:
   * of attempt `attempt` (its number), or of the latest attempt that reported one; null when none did.
   */
  getJobOutput(jobId: number, attempt?: number): Promise<JobOutput | null>;

  // ── nodes and devices ───────────────────────────────────────────────────
  /** Registers a node or replaces what its agent reports of it; never changes its admin state (a new node is 'active'). */
  upsertNode(node: NodeRegistration): Promise<void>;
  /** Marks the node up as of `now`; with its host memory, records that too, sampled at `now` (else the last reading stays). */
  heartbeatNode(nodeId: string, now: number, hostMemory?: HostMemoryReport): Promise<void>;
  /**
   * An agent stopping cleanly: marks its node down at once, so no new work goes there while nobody runs it.
   * Only for the incarnation that registered last (a late call from an old process leaves a newer one alone).
   * Returns whether the node was marked down.
   */
  nodeLeft(nodeId: string, incarnation: string): Promise<boolean>;
  /** Marks nodes whose last heartbeat is older than `before` as down; returns their ids. */
  markNodesDown(before: number, fence?: Fence): Promise<string[]>;
  listNodes(): Promise<NodeInfo[]>;
  /** One node with its devices, or null when unknown. */
  getNode(nodeId: string): Promise<NodeInfo | null>;
  /**
   * Sets the operator's admin state of a node (cordon, drain, uncordon) and returns the node as it is
   * then, or null for an unknown node. From its commit on, schedulingSnapshot shows the node
   * unschedulable unless 'active', and applyPlan refuses placements onto it as stale.
   */
  setNodeAdminState(nodeId: string, state: NodeAdminState, audit?: AuditOf<NodeInfo | null>): Promise<NodeInfo | null>;
  /**
   * Where a remote agent serves its node's attempt logs (cluster mode), replaced at each of its
   * registrations; null clears it (a node without a log server: its logs are on the server's disk).
   */
  setNodeLogEndpoint(nodeId: string, endpoint: NodeLogEndpoint | null): Promise<void>;
  /** The node's log endpoint; null when it has none or the node is unknown. */
  getNodeLogEndpoint(nodeId: string): Promise<NodeLogEndpoint | null>;
  recordTelemetry(samples: DeviceTelemetry[]): Promise<void>;
  /** The newest sample of each device. */
  latestTelemetry(): Promise<DeviceTelemetry[]>;
  /** Samples of one device, oldest first, since `since`. */
  telemetryHistory(nodeId: string, index: number, since: number): Promise<DeviceTelemetry[]>;

  // ── control ─────────────────────────────────────────────────────────────
  getMaintenanceMode(): Promise<MaintenanceMode>;
  setMaintenanceMode(mode: MaintenanceMode, now: number, audit?: AuditOf<void>): Promise<void>;

  // ── housekeeping and stats ──────────────────────────────────────────────
  /** Deletes up to `limit` jobs (with attempts and events) that finished before `before` and are not in the DLQ. */
  purgeFinishedJobs(before: number, limit: number, fence?: Fence): Promise<number>;
  purgeTelemetry(before: number, fence?: Fence): Promise<number>;
  /** Job counts by queue and state, DLQ size by queue. */
  jobStats(): Promise<JobStats>;
}

export type DecideFn = (job: JobAtAttemptEnd, end: AttemptEnd) => JobDecision;

export interface SubmitOutcome {
  job: Job;
  created: boolean;
}

export interface JobFilter {
  states?: JobState[];
  queue?: string;
  /** Every listed label must match exactly. */
  labels?: Record<string, string>;
  inDlq?: boolean;
  /** Only jobs owned by this token id. */
  ownerTokenId?: string;
  /** Only jobs submitted by a token of this name (the name it had then). */
  ownerName?: string;
  /** Only jobs whose name contains this, ASCII letters matched in either case. */
  nameContains?: string;
}

export type JobSelector = { ids: number[] } | { queue: string };
export type DlqSelector = { ids: number[] } | { all: true; queue?: string };

export interface CancelOutcome {
  cancelled: Job[];
  /** Live attempts the agents must kill. */
  attemptsToKill: { attemptId: number; jobId: number; nodeId: string }[];
  /** Jobs that waited for a cancelled job (directly or not) and ended `failed` with it. */
  dependentsFailed: FailedDependent[];
}

/** A job failed because a job it waited for (directly or not) failed or was cancelled. */
export interface FailedDependent {
  id: number;
  queue: string;
}

export interface Placement {
  jobId: number;
  nodeId: string;
  devices: number[];
}

/** What an agent needs to run an attempt. */
export interface AssignedAttempt {
  attemptId: number;
  jobId: number;
  number: number;
  nodeId: string;
  devices: number[];
  spec: JobSpec;
  jobCreatedAt: number;
  leaseExpiresAt: number;
  /** A pool replica's credential for this attempt (control-plane/pools/replica-credentials.ts): added by the control plane on the way to the agent, never stored. */
  poolCredential?: string;
}

/** A remote agent's log server: its base URL and the per-run secret it accepts as a bearer token. */
export interface NodeLogEndpoint {
  url: string;
  secret: string;
}

export interface StartReport {
  attemptId: number;
  pid: number | null;
  logPath: string | null;
  startedAt: number;
}

export interface EndReport {
  attemptId: number;
  /**
   * Set when the start was not reported separately (a noop, or a process that
   * ended before its start was sent): the attempt's start is recorded with its end.
   */
  startedAt?: number;
  /** With `startedAt`: what the start report would have said (kept if a start was recorded already). */
  pid?: number | null;
  logPath?: string | null;
  end: AttemptEnd;
  exitCode: number | null;
  signal: string | null;
  endedAt: number;
  /** Its result and artifacts, recorded with the end in the same transaction; absent for an attempt that ran nothing. */
  output?: AttemptOutput;
  /** What each of its GPUs did (core/gpu-usage.ts), recorded with the end in the same transaction (replacing live figures); absent for an attempt without GPUs. */
  gpuUsage?: GpuUsage[];
}

export interface AttemptOrigin {
  attemptId: number;
  queue: string;
  /** The attempt's number within its job (1: the job's first). */
  number: number;
  jobCreatedAt: number;
  startedAt: number | null;
}

export interface ReportResult {
  attemptId: number;
  /** False when the attempt was no longer live (reclaimed, or already ended): the report changed nothing. */
  accepted: boolean;
  /** The job's state after the report, when accepted. */
  jobState?: JobState;
  /** Jobs that waited for this one (directly or not) and ended `failed` with it. */
  dependentsFailed?: FailedDependent[];
}

export interface JobStats {
  byQueueState: { queue: string; state: JobState; count: number }[];
  dlqByQueue: { queue: string; count: number }[];
}
