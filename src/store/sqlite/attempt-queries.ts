import type { Database } from 'better-sqlite3';
import { slotsOf, type JobSpec } from '../../core/job-spec.js';
import { isLive, isTerminal } from '../../core/job-states.js';
import type { NodeCapacity, QueuedJob } from '../../core/scheduler/snapshot.js';
import type { Attempt, JobState } from '../../core/types.js';
import type { AssignedAttempt, AttemptOrigin, DecideFn, EndReport, Placement, ReportResult, StartReport } from '../store.js';
import { ATTEMPT_COLUMNS, attemptFromRow, parseStringMap, type AttemptRow } from './rows.js';
import { INSERT_EVENT, LIVE_ATTEMPT, type InsertEventParams } from './shared-sql.js';
import { schedulability } from '../node-schedulability.js';
import type { DependencyQueries } from './dependency-queries.js';
import type { OutputQueries } from './output-queries.js';
import type { GpuUsageQueries } from './gpu-usage-queries.js';

/**
 * Scheduling and the attempt lifecycle: snapshot → applyPlan → markRunning →
 * endAttempts, plus leases. An attempt is live while `assigned` or `running`;
 * while live it holds its devices through rows in `device_holds` (inserted by
 * applyPlan, deleted by endAttempts) and its run slots through its `slots`
 * column (summed per node against nodes.max_running), and every report from an agent is fenced:
 * it applies only to a live attempt, so a report for an attempt that was
 * reclaimed or already ended changes nothing.
 */

const SELECT_NODES = `SELECT id, labels, cpus, memory_mb, max_running, state, admin_state FROM nodes ORDER BY id`;
const SELECT_HEALTHY_DEVICES = `SELECT node_id, device_index FROM devices WHERE healthy = 1 ORDER BY node_id, device_index`;
const SELECT_HOLDS = `SELECT node_id, device_index FROM device_holds`;
const SELECT_LIVE_RESERVATIONS = `SELECT node_id, total(cpus) AS cpus, total(memory_mb) AS memory_mb, total(slots) AS slots FROM attempts WHERE ${LIVE_ATTEMPT} GROUP BY node_id`;
/**
 * INDEXED BY: without statistics SQLite may prefer jobs_state_id and sort every queued job;
 * jobs_runnable is already in scheduling order, so the scan stops after `limit` runnable rows.
 * Parameters: now, limit.
 */
const SELECT_RUNNABLE = `SELECT id, queue, type, priority, gpus, cpus, memory_mb, node_selector, created_at FROM jobs INDEXED BY jobs_runnable
  WHERE state = 'queued' AND deps_unmet = 0 AND not_before <= ? ORDER BY priority DESC, id ASC LIMIT ?`;

/** Parameters: id. */
const SELECT_JOB_FOR_PLACEMENT = `SELECT state, deps_unmet, type, attempts, gpus, cpus, memory_mb, spec, created_at FROM jobs WHERE id = ?`;
/** Parameters: node id. */
const SELECT_NODE_STATE = `SELECT state, admin_state, max_running FROM nodes WHERE id = ?`;
/** Run slots the node's live attempts hold (attempts_live_node). Parameters: node id. */
const SELECT_NODE_SLOTS_HELD = `SELECT total(slots) AS slots FROM attempts WHERE ${LIVE_ATTEMPT} AND node_id = ?`;
/** Parameters: node id. */
const SELECT_NODE_HEALTHY = `SELECT device_index FROM devices WHERE node_id = ? AND healthy = 1`;
/** Parameters: node id, JSON array of device indices. */
const COUNT_HELD = `SELECT count(*) AS n FROM device_holds WHERE node_id = ? AND device_index IN (SELECT value FROM json_each(?))`;
/** Parameters: job_id, number, node_id, devices (JSON), cpus, memory_mb, slots, assigned_at, lease_expires_at. */
const INSERT_ATTEMPT = `INSERT INTO attempts (job_id, number, node_id, devices, cpus, memory_mb, slots, state, assigned_at, lease_expires_at)
  VALUES (?, ?, ?, ?, ?, ?, ?, 'assigned', ?, ?)`;
/** Parameters: node_id, attempt_id, devices (JSON array). */
const INSERT_HOLDS = `INSERT INTO device_holds (node_id, device_index, attempt_id) SELECT ?, value, ? FROM json_each(?)`;
/** Parameters: attempts (the new count), node_id, devices (JSON), updated_at, id. */
const ASSIGN_JOB = `UPDATE jobs SET state = 'assigned', attempts = ?, node_id = ?, devices = ?, updated_at = ?, reason = NULL WHERE id = ? AND state = 'queued'`;

/**
 * Reports are fenced by the WHERE clause of the UPDATE itself: it changes (and returns) a row only when the
 * attempt is in the state the report applies to, so checking and changing are one step.
 * Parameters: pid, log_path, started_at, id.
 */
const START_ATTEMPT = `UPDATE attempts SET state = 'running', pid = ?, log_path = ?, started_at = ? WHERE id = ? AND state = 'assigned'
  RETURNING job_id, number`;
/** The job's started_at is its first start: the queue wait is measured to it. Parameters: started_at, updated_at, id. */
const START_JOB = `UPDATE jobs SET state = 'running', started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ? AND state = 'assigned'`;
/** Parameters: id. */
const SELECT_JOB_STATE = `SELECT state FROM jobs WHERE id = ?`;
/** Parameters: state, exit_code, signal, reason, ended_at, started_at, pid, log_path (each null keeps it), id. */
const END_ATTEMPT = `UPDATE attempts SET state = ?, exit_code = ?, signal = ?, reason = ?, ended_at = ?, started_at = coalesce(started_at, ?),
    pid = coalesce(pid, ?), log_path = coalesce(log_path, ?)
  WHERE id = ? AND ${LIVE_ATTEMPT} RETURNING job_id, number, devices`;
/** An end reported with its start, for a job still `assigned`. Parameters: started_at, updated_at, id. */
const START_JOB_AT_END = `UPDATE jobs SET state = 'running', started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ? AND state = 'assigned'`;
/** What the retry decision needs. Parameters: id. */
const SELECT_JOB_FOR_DECISION = `SELECT state, attempts, attempt_limit, backoff_initial_s, backoff_max_s, backoff_multiplier FROM jobs WHERE id = ?`;
/** Parameters: attempt id. */
const RELEASE_HOLDS = `DELETE FROM device_holds WHERE attempt_id = ?`;
/**
 * Applies a retry decision. Placement columns are cleared when the job leaves assigned/running.
 * @startedAt records the job's start along with its end (an attempt whose start came with its end),
 * so that such a job is written once, not once for the start and again for the end.
 * Parameters: @state, @notBefore (null keeps it), @inDlq, @reason, @finishedAt (null unless terminal),
 * @keepPlacement (1/0), @startedAt (null keeps it), @now, @id.
 */
const DECIDE_JOB = `UPDATE jobs SET state = @state, not_before = coalesce(@notBefore, not_before), in_dlq = @inDlq, reason = @reason,
    finished_at = @finishedAt, node_id = CASE WHEN @keepPlacement THEN node_id END,
    devices = CASE WHEN @keepPlacement THEN devices ELSE '[]' END, started_at = coalesce(started_at, @startedAt), updated_at = @now
  WHERE id = @id`;
interface DecideJobParams {
  state: string;
  startedAt: number | null;
  notBefore: number | null;
  inDlq: number;
  reason: string;
  finishedAt: number | null;
  keepPlacement: number;
  now: number;
  id: number;
}

/** Parameters: lease_expires_at, JSON array of attempt ids, node_id. */
const RENEW_LEASES = `UPDATE attempts SET lease_expires_at = ? WHERE id IN (SELECT value FROM json_each(?)) AND node_id = ? AND ${LIVE_ATTEMPT} RETURNING id`;
const SELECT_LIVE = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} ORDER BY id`;
/** Parameters: node_id. */
/** Parameters: node id. */
const SELECT_ASSIGNED_ON_NODE = `SELECT a.id, a.job_id, a.number, a.node_id, a.devices, a.lease_expires_at, j.spec, j.created_at
  FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.state = 'assigned' AND a.node_id = ? ORDER BY a.id`;
const SELECT_LIVE_ON_NODE = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} AND node_id = ? ORDER BY id`;
/** Parameters: JSON array of attempt ids. */
const SELECT_ORIGINS = `SELECT a.id, a.number, a.started_at, j.queue, j.created_at FROM attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.id IN (SELECT value FROM json_each(?))`;
/** Parameters: now. */
const SELECT_EXPIRED = `SELECT ${ATTEMPT_COLUMNS} FROM attempts WHERE ${LIVE_ATTEMPT} AND lease_expires_at < ? ORDER BY lease_expires_at, id`;

interface NodeRowLite {
  id: string;
  labels: string;
  cpus: number;
  memory_mb: number;
  max_running: number;
  state: string;
  admin_state: string;
}
interface RunnableRow {
  id: number;
  queue: string;
  type: JobSpec['type'];
  priority: number;
  gpus: number;
  cpus: number;
  memory_mb: number;
  node_selector: string;
  created_at: number;
}
interface PlacementJobRow {
  state: string;
  deps_unmet: number;
  type: JobSpec['type'];
  attempts: number;
  gpus: number;
  cpus: number;
  memory_mb: number;
  spec: string;
  created_at: number;
}
interface DecisionJobRow {
  state: string;
  attempts: number;
  attempt_limit: number;
  backoff_initial_s: number;
  backoff_max_s: number;
  backoff_multiplier: number;
}
type NodeDevice = { node_id: string; device_index: number };

export type AttemptQueries = ReturnType<typeof prepareAttemptQueries>;

export function prepareAttemptQueries(db: Database, deps: DependencyQueries, outputs: OutputQueries, gpuUsage: GpuUsageQueries) {
  const selectNodes = db.prepare<[], NodeRowLite>(SELECT_NODES);
  const selectHealthyDevices = db.prepare<[], NodeDevice>(SELECT_HEALTHY_DEVICES);
  const selectHolds = db.prepare<[], NodeDevice>(SELECT_HOLDS);
  const selectLiveReservations = db.prepare<[], { node_id: string; cpus: number; memory_mb: number; slots: number }>(SELECT_LIVE_RESERVATIONS);
  const selectRunnable = db.prepare<[number, number], RunnableRow>(SELECT_RUNNABLE);
  const selectJobForPlacement = db.prepare<[number], PlacementJobRow>(SELECT_JOB_FOR_PLACEMENT);
  const selectNodeState = db.prepare<[string], { state: string; admin_state: string; max_running: number }>(SELECT_NODE_STATE);
  const selectNodeSlotsHeld = db.prepare<[string], { slots: number }>(SELECT_NODE_SLOTS_HELD);
  const selectNodeHealthy = db.prepare<[string], { device_index: number }>(SELECT_NODE_HEALTHY);
  const countHeld = db.prepare<[string, string], { n: number }>(COUNT_HELD);
  const insertAttempt = db.prepare<[number, number, string, string, number, number, number, number, number]>(INSERT_ATTEMPT);
  const insertHolds = db.prepare<[string, number, string]>(INSERT_HOLDS);
  const assignJob = db.prepare<[number, string, string, number, number]>(ASSIGN_JOB);
  const insertEvent = db.prepare<InsertEventParams>(INSERT_EVENT);
  const startAttempt = db.prepare<[number | null, string | null, number, number], { job_id: number; number: number }>(START_ATTEMPT);
  const startJob = db.prepare<[number, number, number]>(START_JOB);
  const selectJobState = db.prepare<[number], { state: string }>(SELECT_JOB_STATE);
  const endAttempt = db.prepare<[string, number | null, string | null, string, number, number | null, number | null, string | null, number], { job_id: number; number: number; devices: string }>(END_ATTEMPT);
  const selectJobForDecision = db.prepare<[number], DecisionJobRow>(SELECT_JOB_FOR_DECISION);
  const startJobAtEnd = db.prepare<[number, number, number]>(START_JOB_AT_END);
  const releaseHolds = db.prepare<[number]>(RELEASE_HOLDS);
  const decideJob = db.prepare<DecideJobParams>(DECIDE_JOB);
  const renewLeasesStmt = db.prepare<[number, string, string], { id: number }>(RENEW_LEASES);
  const selectLive = db.prepare<[], AttemptRow>(SELECT_LIVE);
  const selectLiveOnNode = db.prepare<[string], AttemptRow>(SELECT_LIVE_ON_NODE);
  const selectExpired = db.prepare<[number], AttemptRow>(SELECT_EXPIRED);
  const selectAssignedOnNode = db.prepare<[string], AssignedRow>(SELECT_ASSIGNED_ON_NODE);
  const selectOrigins = db.prepare<[string], { id: number; number: number; started_at: number | null; queue: string; created_at: number }>(SELECT_ORIGINS);

  function schedulingSnapshot(now: number, limit: number): { nodes: NodeCapacity[]; queued: QueuedJob[] } {
    const healthy = groupByNode(selectHealthyDevices.all());
    const held = groupByNode(selectHolds.all());
    const reserved = new Map(selectLiveReservations.all().map((r) => [r.node_id, r]));
    const nodes = selectNodes.all().map((n): NodeCapacity => {
      const devices = healthy.get(n.id) ?? [];
      const heldHere = new Set(held.get(n.id));
      const r = reserved.get(n.id);
      return {
        id: n.id,
        labels: parseStringMap(n.labels),
        ...schedulability(n.state, n.admin_state),
        devices,
        freeDevices: devices.filter((d) => !heldHere.has(d)),
        cpusTotal: n.cpus,
        cpusFree: n.cpus - (r?.cpus ?? 0),
        memoryTotalMb: n.memory_mb,
        memoryFreeMb: n.memory_mb - (r?.memory_mb ?? 0),
        slotsTotal: n.max_running,
        slotsFree: n.max_running - (r?.slots ?? 0),
      };
    });
    const queued = selectRunnable.all(now, limit).map(
      (j): QueuedJob => ({
        id: j.id,
        queue: j.queue,
        priority: j.priority,
        gpus: j.gpus,
        cpus: j.cpus,
        memoryMb: j.memory_mb,
        slots: slotsOf(j.type),
        nodeSelector: parseStringMap(j.node_selector),
        createdAt: j.created_at,
      }),
    );
    return { nodes, queued };
  }

  function applyPlan(placements: Placement[], now: number, leaseMs: number): AssignedAttempt[] {
    // Per call: is each node up and not cordoned or draining, which of its devices are healthy, and how many run slots it has free. A placement
    // onto a node that went down or was cordoned, onto a device that turned unhealthy, or past the node's maxRunning is as stale
    // as one onto a held device. Slots are counted once per node and then kept up to date here.
    const nodeCache = new Map<string, { usable: Set<number>; freeSlots: number } | null>();
    const nodeNow = (nodeId: string): { usable: Set<number>; freeSlots: number } | null => {
      let n = nodeCache.get(nodeId);
      if (n === undefined) {
        const row = selectNodeState.get(nodeId);
        n =
          row && schedulability(row.state, row.admin_state).schedulable
            ? { usable: new Set(selectNodeHealthy.all(nodeId).map((d) => d.device_index)), freeSlots: row.max_running - (selectNodeSlotsHeld.get(nodeId)?.slots ?? 0) }
            : null;
        nodeCache.set(nodeId, n);
      }
      return n;
    };
    const assigned: AssignedAttempt[] = [];
    for (const p of placements) {
      const job = selectJobForPlacement.get(p.jobId);
      if (!job || job.state !== 'queued' || job.deps_unmet > 0) continue;
      if (p.devices.length !== job.gpus || new Set(p.devices).size !== p.devices.length) continue;
      const node = nodeNow(p.nodeId);
      if (!node || !p.devices.every((d) => node.usable.has(d))) continue;
      const slots = slotsOf(job.type);
      if (slots > node.freeSlots) continue;
      const devicesJson = JSON.stringify(p.devices);
      if (p.devices.length > 0 && (countHeld.get(p.nodeId, devicesJson)?.n ?? 0) > 0) continue;
      const number = job.attempts + 1;
      const leaseExpiresAt = now + leaseMs;
      const attemptId = Number(insertAttempt.run(p.jobId, number, p.nodeId, devicesJson, job.cpus, job.memory_mb, slots, now, leaseExpiresAt).lastInsertRowid);
      node.freeSlots -= slots;
      if (p.devices.length > 0) insertHolds.run(p.nodeId, attemptId, devicesJson);
      assignJob.run(number, p.nodeId, devicesJson, now, p.jobId);
      insertEvent.run(p.jobId, number, 'queued', 'assigned', now, null);
      assigned.push({
        attemptId,
        jobId: p.jobId,
        number,
        nodeId: p.nodeId,
        devices: [...p.devices],
        spec: JSON.parse(job.spec) as JobSpec,
        jobCreatedAt: job.created_at,
        leaseExpiresAt,
      });
    }
    return assigned;
  }

  function markRunning(reports: StartReport[], now: number): ReportResult[] {
    return reports.map((r): ReportResult => {
      const a = startAttempt.get(r.pid, r.logPath, r.startedAt, r.attemptId);
      if (!a) return { attemptId: r.attemptId, accepted: false };
      if (startJob.run(r.startedAt, now, a.job_id).changes === 0) {
        // The job was cancelled while its attempt was starting: it stays cancelled; only the attempt's start is recorded.
        return { attemptId: r.attemptId, accepted: true, jobState: selectJobState.get(a.job_id)?.state as JobState };
      }
      insertEvent.run(a.job_id, a.number, 'assigned', 'running', now, null);
      return { attemptId: r.attemptId, accepted: true, jobState: 'running' };
    });
  }

  function endAttempts(reports: EndReport[], decide: DecideFn, now: number): ReportResult[] {
    return reports.map((r): ReportResult => {
      const a = endAttempt.get(r.end.state, r.exitCode, r.signal, r.end.reason, r.endedAt, r.startedAt ?? null, r.pid ?? null, r.logPath ?? null, r.attemptId);
      if (!a) return { attemptId: r.attemptId, accepted: false };
      if (a.devices !== '[]') releaseHolds.run(r.attemptId);
      if (r.output !== undefined) outputs.record(r.attemptId, a.job_id, a.number, r.output);
      if (r.gpuUsage !== undefined) gpuUsage.record(r.attemptId, r.gpuUsage);
      const job = selectJobForDecision.get(a.job_id);
      if (!job) throw new Error(`attempt ${r.attemptId} belongs to job ${a.job_id}, which does not exist`);
      let jobState = job.state as JobState;
      // A start reported with the end: the job went through running, recorded as an event and in the decision's update.
      const startsNow = r.startedAt !== undefined && jobState === 'assigned';
      if (startsNow) {
        insertEvent.run(a.job_id, a.number, 'assigned', 'running', r.startedAt!, null);
        jobState = 'running';
      }
      const decision = decide(
        {
          state: jobState,
          attempts: job.attempts,
          attemptLimit: job.attempt_limit,
          backoff: { initialSeconds: job.backoff_initial_s, maxSeconds: job.backoff_max_s, multiplier: job.backoff_multiplier },
        },
        r.end,
      );
      if (decision.state === null) {
        if (startsNow) startJobAtEnd.run(r.startedAt!, now, a.job_id);
        return { attemptId: r.attemptId, accepted: true, jobState };
      }
      const to = decision.state;
      decideJob.run({
        state: to,
        startedAt: startsNow ? r.startedAt! : null,
        notBefore: to === 'queued' ? (decision.notBefore ?? now) : null,
        inDlq: decision.toDlq ? 1 : 0,
        reason: decision.reason,
        finishedAt: isTerminal(to) ? now : null,
        keepPlacement: isLive(to) ? 1 : 0,
        now,
        id: a.job_id,
      });
      insertEvent.run(a.job_id, a.number, jobState, to, now, decision.reason);
      // The jobs waiting for this one: one dependency fewer, or failed with it.
      if (to === 'succeeded') deps.succeeded(a.job_id);
      else if (to === 'failed' || to === 'cancelled') {
        const dependentsFailed = deps.failDependents([{ id: a.job_id, state: to, reason: decision.reason }], now);
        if (dependentsFailed.length > 0) return { attemptId: r.attemptId, accepted: true, jobState: to, dependentsFailed };
      }
      return { attemptId: r.attemptId, accepted: true, jobState: to };
    });
  }

  function renewLeases(nodeId: string, attemptIds: number[], expiresAt: number): number[] {
    if (attemptIds.length === 0) return [];
    const live = new Set(renewLeasesStmt.all(expiresAt, JSON.stringify(attemptIds), nodeId).map((r) => r.id));
    return [...new Set(attemptIds)].filter((id) => live.has(id));
  }

  function listLiveAttempts(nodeId?: string): Attempt[] {
    return (nodeId === undefined ? selectLive.all() : selectLiveOnNode.all(nodeId)).map(attemptFromRow);
  }

  function listAssignedAttempts(nodeId: string): AssignedAttempt[] {
    return selectAssignedOnNode.all(nodeId).map((r) => ({
      attemptId: r.id,
      jobId: r.job_id,
      number: r.number,
      nodeId: r.node_id,
      devices: JSON.parse(r.devices) as number[],
      spec: JSON.parse(r.spec) as JobSpec,
      jobCreatedAt: r.created_at,
      leaseExpiresAt: r.lease_expires_at,
    }));
  }

  function attemptOrigins(attemptIds: number[]): AttemptOrigin[] {
    if (attemptIds.length === 0) return [];
    return selectOrigins.all(JSON.stringify(attemptIds)).map((r) => ({ attemptId: r.id, queue: r.queue, number: r.number, jobCreatedAt: r.created_at, startedAt: r.started_at }));
  }

  function listExpiredAttempts(now: number): Attempt[] {
    return selectExpired.all(now).map(attemptFromRow);
  }

  return { schedulingSnapshot, applyPlan, markRunning, endAttempts, renewLeases, listLiveAttempts, listAssignedAttempts, attemptOrigins, listExpiredAttempts };
}

interface AssignedRow {
  id: number;
  job_id: number;
  number: number;
  node_id: string;
  devices: string;
  lease_expires_at: number;
  spec: string;
  created_at: number;
}

function groupByNode(rows: NodeDevice[]): Map<string, number[]> {
  const byNode = new Map<string, number[]>();
  for (const r of rows) {
    const list = byNode.get(r.node_id);
    if (list) list.push(r.device_index);
    else byNode.set(r.node_id, [r.device_index]);
  }
  return byNode;
}
