import type { JobSpec } from '../../core/job-spec.js';
import type { Attempt, AttemptState, Device, Job, JobEvent, JobState, NodeInfo } from '../../core/types.js';
import { storedSpec } from '../new-job.js';

/**
 * Database rows, kept apart from the public types: a row is what SQLite returns
 * (0/1 for booleans, JSON text for arrays and maps, snake_case); each public
 * object is made from its row in exactly one function below.
 */

export interface JobRow {
  id: number;
  name: string;
  queue: string;
  type: string;
  state: string;
  priority: number;
  gpus: number;
  attempts: number;
  attempt_limit: number;
  not_before: number;
  in_dlq: number;
  reason: string | null;
  node_id: string | null;
  devices: string;
  spec: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  owner: string | null;
  owner_token_id: string | null;
}

/** The columns a JobRow is read from; every query that maps to a Job selects these. */
export const JOB_COLUMNS =
  'id, name, queue, type, state, priority, gpus, attempts, attempt_limit, not_before, in_dlq, reason, node_id, devices, spec, created_at, updated_at, started_at, finished_at, owner, owner_token_id';

/** `spec` may be passed when the caller already holds the parsed spec, to skip a JSON parse on a hot path. */
export function jobFromRow(row: JobRow, spec?: JobSpec): Job {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    type: row.type as Job['type'],
    state: row.state as JobState,
    priority: row.priority,
    gpus: row.gpus,
    spec: spec ?? storedSpec(JSON.parse(row.spec) as JobSpec),
    attempts: row.attempts,
    attemptLimit: row.attempt_limit,
    notBefore: row.not_before,
    inDlq: row.in_dlq === 1,
    reason: row.reason,
    nodeId: row.node_id,
    devices: parseDevices(row.devices),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    owner: row.owner,
    ownerTokenId: row.owner_token_id,
  };
}

export interface AttemptRow {
  id: number;
  job_id: number;
  number: number;
  node_id: string;
  devices: string;
  state: string;
  assigned_at: number;
  started_at: number | null;
  ended_at: number | null;
  exit_code: number | null;
  signal: string | null;
  reason: string | null;
  lease_expires_at: number;
  cancel_requested: number;
  pid: number | null;
  log_path: string | null;
  idle_since: number | null;
}

export const ATTEMPT_COLUMNS =
  'id, job_id, number, node_id, devices, state, assigned_at, started_at, ended_at, exit_code, signal, reason, lease_expires_at, cancel_requested, pid, log_path, idle_since';

export function attemptFromRow(row: AttemptRow): Attempt {
  return {
    id: row.id,
    jobId: row.job_id,
    number: row.number,
    nodeId: row.node_id,
    devices: parseDevices(row.devices),
    state: row.state as AttemptState,
    assignedAt: row.assigned_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    exitCode: row.exit_code,
    signal: row.signal,
    reason: row.reason,
    leaseExpiresAt: row.lease_expires_at,
    cancelRequested: row.cancel_requested === 1,
    pid: row.pid,
    logPath: row.log_path,
    idleSince: row.idle_since,
  };
}

export interface EventRow {
  job_id: number;
  attempt: number | null;
  from_state: string | null;
  to_state: string;
  at: number;
  reason: string | null;
}

export function eventFromRow(row: EventRow): JobEvent {
  return {
    jobId: row.job_id,
    attempt: row.attempt,
    from: row.from_state as JobState | null,
    to: row.to_state as JobState,
    at: row.at,
    reason: row.reason,
  };
}

export interface NodeRow {
  id: string;
  hostname: string;
  labels: string;
  cpus: number;
  memory_mb: number;
  max_running: number;
  incarnation: string;
  last_heartbeat_at: number;
  state: string;
  admin_state: string;
  host_memory_total_mb: number | null;
  host_memory_available_mb: number | null;
  host_memory_at: number | null;
}

export interface DeviceRow {
  node_id: string;
  device_index: number;
  uuid: string;
  name: string;
  simulated: number;
  memory_total_mb: number;
  pci_bus_id: string | null;
  healthy: number;
}

export function deviceFromRow(row: DeviceRow): Device {
  return {
    index: row.device_index,
    uuid: row.uuid,
    name: row.name,
    simulated: row.simulated === 1,
    memoryTotalMb: row.memory_total_mb,
    pciBusId: row.pci_bus_id,
    healthy: row.healthy === 1,
  };
}

export function nodeFromRow(row: NodeRow, devices: Device[]): NodeInfo {
  return {
    id: row.id,
    hostname: row.hostname,
    labels: parseStringMap(row.labels),
    cpus: row.cpus,
    memoryMb: row.memory_mb,
    maxRunning: row.max_running,
    devices,
    incarnation: row.incarnation,
    lastHeartbeatAt: row.last_heartbeat_at,
    state: row.state as NodeInfo['state'],
    adminState: row.admin_state as NodeInfo['adminState'],
    hostMemory:
      row.host_memory_total_mb === null || row.host_memory_available_mb === null || row.host_memory_at === null
        ? null
        : { totalMb: row.host_memory_total_mb, availableMb: row.host_memory_available_mb, sampledAt: row.host_memory_at },
  };
}

// Telemetry rows are the same on every database.
export { TELEMETRY_COLUMNS, telemetryFromRow, type TelemetryRow } from '../telemetry-row.js';

/** Device lists are tiny and mostly empty; skip the JSON parser for the common case. */
export function parseDevices(text: string): number[] {
  return text === '[]' ? [] : (JSON.parse(text) as number[]);
}

export function parseStringMap(text: string): Record<string, string> {
  return text === '{}' ? {} : (JSON.parse(text) as Record<string, string>);
}
