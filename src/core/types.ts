import type { JobSpec } from './job-spec.js';

/**
 * Job states (see job-states.ts for the transitions):
 *   queued → assigned → running → succeeded | failed | cancelled
 * A failed attempt with attempts left sends the job back to `queued` with a not-before time.
 */
export type JobState = 'queued' | 'assigned' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export const JOB_STATES: readonly JobState[] = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'cancelled'];
export const TERMINAL_JOB_STATES: readonly JobState[] = ['succeeded', 'failed', 'cancelled'];

/** An attempt is live while `assigned` or `running`; it then ends in exactly one of the other states. */
export type AttemptState = 'assigned' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'lost';
export type AttemptEndState = Exclude<AttemptState, 'assigned' | 'running'>;

export interface Job {
  id: number;
  name: string;
  queue: string;
  type: JobSpec['type'];
  state: JobState;
  priority: number;
  gpus: number;
  spec: JobSpec;
  /** Attempts started so far (across replays). */
  attempts: number;
  /** The job fails for good when `attempts` reaches this; a replay raises it by spec.maxAttempts. */
  attemptLimit: number;
  /** Not started before this time (ms since epoch): the retry backoff. */
  notBefore: number;
  inDlq: boolean;
  /** Why the job is in its current state (last failure, cancel reason, …). */
  reason: string | null;
  nodeId: string | null;
  devices: number[];
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** The name of the API token that submitted the job; null when submitted with auth off. */
  owner: string | null;
  /** That token's id: what ownership is checked by (a name may pass to a new token after a revoke). */
  ownerTokenId: string | null;
}

export interface Attempt {
  id: number;
  jobId: number;
  /** 1-based number of this attempt within its job. */
  number: number;
  nodeId: string;
  devices: number[];
  state: AttemptState;
  assignedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  leaseExpiresAt: number;
  cancelRequested: boolean;
  pid: number | null;
  logPath: string | null;
  /** While all its GPUs have been idle for the idle time (core/gpu-usage.ts): since when they have been; else null. Kept after the end. */
  idleSince: number | null;
}

/** One recorded transition of a job, kept forever (until retention purges the job). */
export interface JobEvent {
  jobId: number;
  attempt: number | null;
  from: JobState | null;
  to: JobState;
  at: number;
  reason: string | null;
}

export interface Device {
  index: number;
  uuid: string;
  name: string;
  /** True for --fake-gpus devices: no hardware behind them. */
  simulated: boolean;
  memoryTotalMb: number;
  pciBusId: string | null;
  healthy: boolean;
}

export interface DeviceTelemetry {
  nodeId: string;
  index: number;
  at: number;
  utilizationPct: number | null;
  memoryUsedMb: number | null;
  temperatureC: number | null;
  powerW: number | null;
  eccCorrected: number | null;
  eccUncorrected: number | null;
}

/** A node's host memory as its agent last read it (/proc/meminfo: MemTotal, MemAvailable). */
export interface HostMemory {
  totalMb: number;
  availableMb: number;
  /** When the agent read it (the control plane's clock: when the heartbeat carrying it arrived). */
  sampledAt: number;
}

/** Host memory as an agent reports it with a heartbeat; the control plane stamps it with the heartbeat's time. */
export type HostMemoryReport = Omit<HostMemory, 'sampledAt'>;

export interface NodeInfo {
  id: string;
  hostname: string;
  labels: Record<string, string>;
  cpus: number;
  memoryMb: number;
  /**
   * Most attempts that run processes (exec jobs) the node runs at once; at
   * least 1. A noop takes no slot. Bounds the process churn on the node: past a
   * few processes per core, starting more only slows every start down.
   */
  maxRunning: number;
  devices: Device[];
  /** Changes each time the agent process starts; attempts of an older incarnation are dead. */
  incarnation: string;
  lastHeartbeatAt: number;
  state: 'up' | 'down';
  /**
   * Whether the operator lets new work onto the node, apart from whether it is up:
   *   active ─cordon→ cordoned, active|cordoned ─drain→ draining, any ─uncordon→ active.
   * Cordoned and draining nodes take no new attempts; their running attempts go on.
   * Draining is cordoned plus the operator's wish to see it empty (the API reports
   * `drained` once no attempt is live there). Set only by the operator; an agent's
   * registration never changes it, so a cordon survives agent restarts.
   */
  adminState: NodeAdminState;
  /** The host memory its agent last reported; null before the first report. */
  hostMemory: HostMemory | null;
}

export type NodeAdminState = 'active' | 'cordoned' | 'draining';

/** What an agent reports of its node when it registers: everything but the operator's admin state and what its heartbeats carry. */
export type NodeRegistration = Omit<NodeInfo, 'adminState' | 'hostMemory'>;

export type MaintenanceMode = 'normal' | 'drain';
