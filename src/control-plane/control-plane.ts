import type { Logger } from 'pino';
import type { AuditOf } from '../store/access-store.js';
import type { AgentControl, AttemptUsageReport, ControlPlaneLink } from '../agent/agent-link.js';
import type { IdlePolicy } from '../core/gpu-usage.js';
import { DEFAULT_IDLE_SETTINGS, GpuAccounting, type IdleSettings } from './gpu-accounting.js';
import { AgentFeed } from './agent-feed.js';
import type { JobOwner } from '../core/access.js';
import type { Clock } from '../core/clock.js';
import { DrainingError, JobNotFoundError, NodeNotFoundError, NotLeaderError, UnschedulableError, ValidationError, type FieldIssue } from '../core/errors.js';
import { LIMITS, parseJobSpec, type JobSpec } from '../core/job-spec.js';
import { decideAfterAttempt } from '../core/retry-policy.js';
import { unschedulableReason } from '../core/scheduler/fits.js';
import type { NodeCapacity } from '../core/scheduler/snapshot.js';
import type { DeviceTelemetry, HostMemoryReport, Job, MaintenanceMode, NodeAdminState, NodeInfo, NodeRegistration } from '../core/types.js';
import type { AssignedAttempt, CancelOutcome, DecideFn, DlqSelector, EndReport, JobSelector, ReportResult, StartReport, Store, SubmitOutcome } from '../store/store.js';
import type { Fence } from '../store/leadership.js';
import type { Metrics } from './metrics.js';

/** How often an agent's feed rereads its work while this server does not lead (events are the fast path; this covers lost ones). */
const FEED_POLL_MS = 5000;

export interface ControlPlaneOptions {
  leaseMs: number;
  random?: () => number;
  /** GPU idle detection (gpu-accounting.ts): the policy agents apply, and whether idle attempts' jobs are cancelled. @default DEFAULT_IDLE_SETTINGS */
  idle?: IdleSettings;
}

interface InFlight {
  queue: string;
  number: number;
  jobCreatedAt: number;
  startedAt: number | null;
}

/**
 * The control plane's use cases: what the API asks of gpuq (submit, cancel,
 * replay, maintenance) and what agents report (registration, heartbeats,
 * attempt starts and ends). It validates, decides through core/, writes
 * through the Store, and wakes the scheduler when work may have become
 * runnable. It holds no state that matters beyond a cache: everything is in
 * the store.
 */
export class ControlPlane implements ControlPlaneLink {
  /** Agents attached to this server, by node: each gets its work through its feed. */
  private readonly feeds = new Map<string, AgentFeed>();
  /** The agent each feed serves, as attached (its feed holds it wrapped). */
  private readonly attached = new Map<string, AgentControl>();
  /** Adds what assignments carry beyond the store's rows on their way to an agent: the pools' replica credentials. */
  decorateAssignments: (attempts: AssignedAttempt[]) => AssignedAttempt[] = (attempts) => attempts;
  private readonly inFlight = new Map<number, InFlight>();
  private maintenance: MaintenanceMode = 'normal';
  private nodeCache: { at: number; nodes: NodeCapacity[] } | null = null;
  private readonly random: () => number;
  /** Called when queued work may be runnable (submit, attempt end, replay). */
  onWork: () => void = () => {};
  /** Called when the store refused a leader-only write of `term`: another server leads now. */
  onLeadershipLost: (term: number) => void = () => {};
  /** This server's fence while it leads (leader-election.ts); leader-only writes carry it. */
  private fence: Fence | null = null;
  private readonly gpu: GpuAccounting;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly options: ControlPlaneOptions,
  ) {
    this.random = options.random ?? Math.random;
    this.gpu = new GpuAccounting(store, clock, metrics, log.child({ component: 'gpu-accounting' }), options.idle ?? DEFAULT_IDLE_SETTINGS, (ids, reason) => this.cancel({ ids }, reason));
  }

  async init(): Promise<void> {
    await this.refreshMaintenanceMode();
  }

  /** Rereads the maintenance mode: another server sharing the store may have changed it. */
  async refreshMaintenanceMode(): Promise<void> {
    this.maintenance = await this.store.getMaintenanceMode();
  }

  /** Sets (or, with null, clears) the fence of this server's leadership term. */
  setLeader(fence: Fence | null): void {
    this.fence = fence;
    // Attempts assigned by the previous leader, or by this server before it lost the lease, may not have reached their agents.
    for (const feed of this.feeds.values()) void feed.sync();
  }

  get isLeader(): boolean {
    return this.fence !== null;
  }

  /**
   * Runs a leader-only write with this server's fence. Refused (NotLeaderError)
   * when this server does not lead, or when the store says its term ended; the
   * latter also tells the election, so the server steps down at once.
   */
  async leaderWrite<T>(write: (fence: Fence) => Promise<T>): Promise<T> {
    const fence = this.fence;
    if (fence === null) throw new NotLeaderError(0, null);
    try {
      return await write(fence);
    } catch (err) {
      if (err instanceof NotLeaderError) this.onLeadershipLost(fence.term);
      throw err;
    }
  }

  /** Attaches an agent to this server: from now on it gets its node's assignments and cancels, whichever server decided them. */
  async attachAgent(agent: AgentControl): Promise<void> {
    // Pool replicas' assignments carry their attempt's credential (pools/replica-credentials.ts), added on the way out.
    const credentialed: AgentControl = { nodeId: agent.nodeId, run: (list) => agent.run(this.decorateAssignments(list)), cancel: (ids, reason) => agent.cancel(ids, reason) };
    const feed = new AgentFeed(this.store, credentialed, () => this.isLeader, this.log.child({ nodeId: agent.nodeId }), FEED_POLL_MS);
    this.feeds.get(agent.nodeId)?.stop();
    this.feeds.set(agent.nodeId, feed);
    this.attached.set(agent.nodeId, agent);
    await feed.start();
  }

  detachAgent(agent: AgentControl): void {
    const feed = this.feeds.get(agent.nodeId);
    if (!feed || this.attached.get(agent.nodeId) !== agent) return;
    feed.stop();
    this.feeds.delete(agent.nodeId);
    this.attached.delete(agent.nodeId);
  }

  // ── the API's use cases ─────────────────────────────────────────────────

  /** Validates every spec first; if any is bad or unschedulable, nothing is stored. The jobs belong to `owner` (null with auth off). */
  async submit(inputs: unknown[], owner: JobOwner | null = null): Promise<SubmitOutcome[]> {
    if (this.maintenance === 'drain') throw new DrainingError();
    if (inputs.length === 0) throw new ValidationError([{ path: 'jobs', message: 'must hold at least one job' }]);
    if (inputs.length > LIMITS.maxBatch) throw new ValidationError([{ path: 'jobs', message: `at most ${LIMITS.maxBatch} jobs per request` }]);
    const specs: JobSpec[] = [];
    const issues: FieldIssue[] = [];
    const batch = inputs.length > 1;
    for (let i = 0; i < inputs.length; i++) {
      try {
        specs.push(parseJobSpec(inputs[i], batch ? ['jobs', i] : []));
      } catch (e) {
        if (e instanceof ValidationError) issues.push(...e.issues);
        else throw e;
      }
    }
    if (issues.length > 0) throw new ValidationError(issues);
    return this.submitParsed(specs, owner, batch ? (i) => `jobs.${i}: ` : () => '');
  }

  /**
   * Submits specs already parsed (and completed by gpuq, which may set GPUQ_* variables users cannot): refused
   * in drain, or when one could never be placed (its message prefixed by `where(i)`).
   */
  async submitParsed(specs: JobSpec[], owner: JobOwner | null, where: (i: number) => string = () => ''): Promise<SubmitOutcome[]> {
    if (this.maintenance === 'drain') throw new DrainingError();
    await this.checkPlaceable(specs, where);
    const out = await this.store.submitJobs(specs, this.clock.now(), owner);
    for (const o of out) if (o.created) this.metrics.submitted.inc({ queue: o.job.queue });
    this.onWork();
    return out;
  }

  /** Throws UnschedulableError for the first spec no node could ever run (`where(i)` prefixes its message). */
  async checkPlaceable(specs: readonly JobSpec[], where: (i: number) => string = () => ''): Promise<void> {
    let nodes: Awaited<ReturnType<ControlPlane['capacity']>> | undefined;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      if (s.gpus === 0 && s.cpus === 0 && s.memoryMb === 0 && Object.keys(s.nodeSelector).length === 0) continue;
      nodes ??= await this.capacity();
      const why = unschedulableReason(s, nodes);
      if (why !== null) throw new UnschedulableError(`${where(i)}${why}`, i);
    }
  }

  async getJob(id: number): Promise<Job> {
    const job = await this.store.getJob(id);
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  /** `audit`: the record of an operator's cancel, written in the cancel's transaction (AuditLog.runAtomic). */
  async cancel(selector: JobSelector, reason: string, audit?: AuditOf<CancelOutcome>): Promise<CancelOutcome> {
    const outcome = await this.store.cancelJobs(selector, reason, this.clock.now(), audit);
    const byNode = new Map<string, number[]>();
    for (const a of outcome.attemptsToKill) byNode.set(a.nodeId, [...(byNode.get(a.nodeId) ?? []), a.attemptId]);
    // Agents attached here hear it at once; those on other servers through the store's cancel event.
    for (const [nodeId, ids] of byNode) this.feeds.get(nodeId)?.cancel(ids, reason);
    for (const j of outcome.cancelled) this.metrics.jobsFinished.inc({ queue: j.queue, outcome: 'cancelled' });
    for (const j of outcome.dependentsFailed) this.metrics.jobsFinished.inc({ queue: j.queue, outcome: 'failed' });
    return outcome;
  }

  async replay(selector: DlqSelector, audit?: AuditOf<Job[]>): Promise<Job[]> {
    const jobs = await this.store.replayJobs(selector, this.clock.now(), audit);
    if (jobs.length > 0) this.onWork();
    // A replayed job whose dependency is still failed fails again at once (core/dependencies.ts): it finished again.
    for (const j of jobs) if (j.state === 'failed') this.metrics.jobsFinished.inc({ queue: j.queue, outcome: 'failed' });
    return jobs;
  }

  async purgeDlq(selector: DlqSelector, audit?: AuditOf<number>): Promise<number> {
    return this.store.purgeDlq(selector, this.clock.now(), audit);
  }

  get maintenanceMode(): MaintenanceMode {
    return this.maintenance;
  }

  async setMaintenanceMode(mode: MaintenanceMode, audit?: AuditOf<void>): Promise<void> {
    await this.store.setMaintenanceMode(mode, this.clock.now(), audit);
    this.maintenance = mode;
    this.log.info({ mode }, 'maintenance mode changed');
    if (mode === 'normal') this.onWork();
  }

  /**
   * Cordons, drains or uncordons a node (the operator's admin state: core/types.ts NodeInfo.adminState).
   * Running attempts are not touched either way; an uncordon wakes the scheduler, since the node has room again.
   */
  async setNodeAdminState(nodeId: string, state: NodeAdminState, audit?: AuditOf<NodeInfo | null>): Promise<NodeInfo> {
    const node = await this.store.setNodeAdminState(nodeId, state, audit);
    if (!node) throw new NodeNotFoundError(nodeId);
    this.log.info({ nodeId, adminState: state }, 'node admin state changed');
    if (state === 'active') this.onWork();
    return node;
  }

  // ── the scheduler's hand-off ────────────────────────────────────────────

  /** Hands freshly assigned attempts to the agents attached here; agents on other servers get theirs through the store's events. */
  dispatch(attempts: AssignedAttempt[]): void {
    const byNode = new Map<string, AssignedAttempt[]>();
    for (const a of attempts) {
      this.inFlight.set(a.attemptId, { queue: a.spec.queue, number: a.number, jobCreatedAt: a.jobCreatedAt, startedAt: null });
      const list = byNode.get(a.nodeId);
      if (list) list.push(a);
      else byNode.set(a.nodeId, [a]);
    }
    for (const [nodeId, list] of byNode) this.feeds.get(nodeId)?.deliver(list);
  }

  /** Live attempts whose lease expired are lost; their jobs retry or fail by policy. */
  async reclaimExpired(): Promise<number> {
    const now = this.clock.now();
    const expired = await this.store.listExpiredAttempts(now);
    if (expired.length === 0) return 0;
    const reports: EndReport[] = expired.map((a) => ({
      attemptId: a.id,
      end: { state: 'lost', retryable: true, reason: `lease expired on node ${a.nodeId} (no heartbeat)` },
      exitCode: null,
      signal: null,
      endedAt: now,
    }));
    const results = await this.leaderWrite((fence) => this.endAttempts(reports, fence));
    const n = results.filter((r) => r.accepted).length;
    this.metrics.leaseReclaims.inc(n);
    if (n > 0) this.log.warn({ attempts: n }, 'reclaimed attempts whose lease expired');
    return n;
  }

  // ── ControlPlaneLink: what agents report ────────────────────────────────

  async register(node: NodeRegistration): Promise<{ liveAttemptIds: number[]; leaseMs: number; idlePolicy: IdlePolicy }> {
    await this.store.upsertNode(node);
    this.nodeCache = null;
    const live = await this.store.listLiveAttempts(node.id);
    this.log.info({ nodeId: node.id, devices: node.devices.length, simulated: node.devices.some((d) => d.simulated) }, 'node registered');
    this.onWork();
    return { liveAttemptIds: live.map((a) => a.id), leaseMs: this.options.leaseMs, idlePolicy: this.gpu.policy };
  }

  async heartbeat(nodeId: string, runningAttemptIds: number[], telemetry: DeviceTelemetry[], usage: AttemptUsageReport[] = [], hostMemory?: HostMemoryReport): Promise<{ liveAttemptIds: number[] }> {
    const now = this.clock.now();
    await this.store.heartbeatNode(nodeId, now, hostMemory);
    if (telemetry.length > 0) await this.store.recordTelemetry(telemetry);
    if (usage.length > 0) await this.gpu.recordLive(nodeId, usage);
    const live = runningAttemptIds.length > 0 ? await this.store.renewLeases(nodeId, runningAttemptIds, now + this.options.leaseMs) : [];
    return { liveAttemptIds: live };
  }

  /** An agent stopping cleanly: its node takes no new work until it registers again. Returns whether the node was marked down. */
  async leave(nodeId: string, incarnation: string): Promise<boolean> {
    const left = await this.store.nodeLeft(nodeId, incarnation);
    this.nodeCache = null;
    if (left) this.log.info({ nodeId }, 'node left (its agent stopped): marked down, no new work goes there');
    return left;
  }

  async reportStarted(reports: StartReport[]): Promise<ReportResult[]> {
    const results = await this.store.markRunning(reports, this.clock.now());
    this.forgetDelivered(reports);
    await this.learnOrigins(reports, results);
    for (let i = 0; i < reports.length; i++) {
      const r = reports[i]!;
      const f = this.inFlight.get(r.attemptId);
      if (!f || !results[i]?.accepted) continue;
      this.recordStart(f, r.startedAt);
    }
    return results;
  }

  /**
   * Attempts reported here that another server dispatched (in a cluster, an agent may report to any
   * server): read what the metrics need of them, so queue wait, run time and outcomes are counted
   * under their queue wherever they are reported. One read, for those only.
   */
  private async learnOrigins(reports: { attemptId: number }[], results: ReportResult[]): Promise<void> {
    const unknown = reports.filter((r, i) => results[i]?.accepted && !this.inFlight.has(r.attemptId)).map((r) => r.attemptId);
    if (unknown.length === 0) return;
    try {
      for (const o of await this.store.attemptOrigins(unknown)) this.inFlight.set(o.attemptId, { queue: o.queue, number: o.number, jobCreatedAt: o.jobCreatedAt, startedAt: o.startedAt });
    } catch (err) {
      this.log.warn({ err }, 'could not read the origins of attempts reported here (their metrics are skipped)');
    }
  }

  reportEnded(reports: EndReport[]): Promise<ReportResult[]> {
    return this.endAttempts(reports);
  }

  /** Ends attempts, as agents report or (with the leader's fence) as the reclaimer decides. */
  private async endAttempts(reports: EndReport[], fence?: Fence): Promise<ReportResult[]> {
    const now = this.clock.now();
    const decide: DecideFn = (job, end) => decideAfterAttempt(job, end, now, this.random());
    const results = await this.store.endAttempts(reports, decide, now, fence);
    this.forgetDelivered(reports);
    await this.learnOrigins(reports, results);
    for (let i = 0; i < reports.length; i++) {
      const r = reports[i]!;
      const res = results[i];
      const f = this.inFlight.get(r.attemptId);
      this.inFlight.delete(r.attemptId);
      if (!res?.accepted) continue;
      this.metrics.attemptsEnded.inc({ state: r.end.state });
      const queue = f?.queue ?? 'unknown';
      this.gpu.ended(queue, r.gpuUsage);
      if (f && r.startedAt !== undefined) this.recordStart(f, r.startedAt);
      if (f?.startedAt != null) this.metrics.runTime.observe({ queue }, Math.max(0, r.endedAt - f.startedAt) / 1000);
      if (res.jobState === 'queued') {
        this.metrics.retries.inc({ queue });
      } else if (res.jobState === 'succeeded' || res.jobState === 'failed') {
        this.metrics.jobsFinished.inc({ queue, outcome: res.jobState });
      }
      for (const j of res.dependentsFailed ?? []) this.metrics.jobsFinished.inc({ queue: j.queue, outcome: 'failed' });
    }
    // Devices freed (and maybe jobs requeued): the scheduler may place more.
    this.onWork();
    return results;
  }

  // ── helpers ─────────────────────────────────────────────────────────────

  /** Reported attempts are no longer `assigned` in the store: the feeds need not remember handing them over. */
  private forgetDelivered(reports: readonly { attemptId: number }[]): void {
    if (this.feeds.size === 0) return;
    const ids = reports.map((r) => r.attemptId);
    for (const feed of this.feeds.values()) feed.forget(ids);
  }

  /** Notes an attempt's start; a first attempt's start ends the job's queue wait. */
  private recordStart(f: InFlight, startedAt: number): void {
    f.startedAt = startedAt;
    if (f.number === 1) this.metrics.queueWait.observe({ queue: f.queue }, Math.max(0, startedAt - f.jobCreatedAt) / 1000);
  }

  /** Node capacities for the submit-time fit check, cached for a second. */
  async capacity(): Promise<NodeCapacity[]> {
    const now = this.clock.now();
    if (this.nodeCache && now - this.nodeCache.at < 1000) return this.nodeCache.nodes;
    const snap = await this.store.schedulingSnapshot(now, 0);
    this.nodeCache = { at: now, nodes: snap.nodes };
    return snap.nodes;
  }
}
