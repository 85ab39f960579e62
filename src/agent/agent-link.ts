import type { DeviceTelemetry, NodeInfo } from '../core/types.js';
import type { AssignedAttempt, EndReport, ReportResult, StartReport } from '../store/store.js';

/**
 * The boundary between the control plane and an agent. In the embedded mode
 * both sides live in one process and call each other directly; in cluster mode
 * the same two interfaces are carried over HTTP.
 */

/** What an agent calls on the control plane. */
export interface ControlPlaneLink {
  /** Registers (or re-registers) the node; returns the attempts the store still holds live on it. */
  register(node: NodeInfo): Promise<{ liveAttemptIds: number[] }>;
  /** Renews the leases of running attempts; returns the ids the control plane still considers live. */
  heartbeat(nodeId: string, runningAttemptIds: number[], telemetry: DeviceTelemetry[]): Promise<{ liveAttemptIds: number[] }>;
  reportStarted(reports: StartReport[]): Promise<ReportResult[]>;
  reportEnded(reports: EndReport[]): Promise<ReportResult[]>;
}

/** What the control plane calls on an agent. */
export interface AgentControl {
  readonly nodeId: string;
  run(attempts: AssignedAttempt[]): void;
  cancel(attemptIds: number[], reason: string): void;
}
