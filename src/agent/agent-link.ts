import type { GpuUsage, IdlePolicy } from '../core/gpu-usage.js';
import type { DeviceTelemetry, HostMemoryReport, NodeRegistration } from '../core/types.js';
import type { AssignedAttempt, EndReport, ReportResult, StartReport } from '../store/store.js';

/**
 * The boundary between the control plane and an agent. In the embedded mode
 * both sides live in one process and call each other directly; in cluster mode
 * the same two interfaces are carried over HTTP.
 */

/** What an agent calls on the control plane. */
export interface ControlPlaneLink {
  /**
   * Registers (or re-registers) the node; returns the attempts the store still holds live on it, and how
   * long a lease lasts without renewal (an agent out of touch for longer may have had attempts reclaimed).
   */
  register(node: NodeRegistration): Promise<{ liveAttemptIds: number[]; leaseMs?: number; idlePolicy?: IdlePolicy }>;
  /**
   * Renews the leases of running attempts; returns the ids the control plane still considers live. With the
   * telemetry come the live GPU figures and idle flags of the running attempts that hold GPUs (`usage`); with
   * the lease renewals, the node's host memory (what the pool controller's memory-pressure eviction reads).
   */
  heartbeat(nodeId: string, runningAttemptIds: number[], telemetry: DeviceTelemetry[], usage?: AttemptUsageReport[], hostMemory?: HostMemoryReport): Promise<{ liveAttemptIds: number[] }>;
  reportStarted(reports: StartReport[]): Promise<ReportResult[]>;
  reportEnded(reports: EndReport[]): Promise<ReportResult[]>;
  /** The agent stops cleanly: its node (as registered by this incarnation) takes no new work until it registers again. Resolves whether it was marked down. */
  leave(nodeId: string, incarnation: string): Promise<boolean>;
}

/**
 * A running attempt's GPU accounting so far (core/gpu-usage.ts), as its agent reports it with telemetry:
 * each GPU's figures, and since when all its GPUs have been idle when they have been for the idle time
 * (null: not flagged idle).
 */
export interface AttemptUsageReport {
  attemptId: number;
  idleSince: number | null;
  gpuUsage: GpuUsage[];
}

/** What the control plane calls on an agent. */
export interface AgentControl {
  readonly nodeId: string;
  run(attempts: AssignedAttempt[]): void;
  cancel(attemptIds: number[], reason: string): void;
}

// ── cluster mode: the link over HTTP (agent/http-control-plane-link.ts ⇄ control-plane/routes/agents.ts) ──

/** What one long-poll of a remote agent's session answers (GET /v1/agents/:nodeId/work). */
export interface WorkBatch {
  /** The sequence number of the newest message handed out: the agent acknowledges everything up to it on its next poll. */
  seq: number;
  run: AssignedAttempt[];
  cancel: { attemptId: number; reason: string }[];
}

/** Most start or end reports in one request; a bigger batch is sent in several. */
export const MAX_REPORTS_PER_REQUEST = 5000;
/**
 * Most bytes of end reports in one request, roughly (results make reports large: up to 1 MiB each); a
 * bigger batch is sent in several. Well under the servers' body limit (16 MiB by default).
 */
export const MAX_REPORT_BYTES_PER_REQUEST = 4 * 1024 * 1024;
