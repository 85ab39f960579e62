import type { Trigger, TriggerSpec } from '../core/trigger-spec.js';
import type { AuditOf } from './access-store.js';
import type { Fence } from './leadership.js';

/** A file a directory trigger claimed and has not settled yet, with its run's state once it has one. */
export interface OpenClaim {
  id: number;
  trigger: string;
  file: string;
  claimedAt: number;
  runId: number | null;
  /** The run's state and reason (null before the run exists). */
  runState: 'running' | 'succeeded' | 'failed' | 'cancelled' | null;
  runReason: string | null;
}

/**
 * The Store's directory triggers (migration 0017, ADR 0018): definitions, paused or not, and the files they claimed.
 * A claim's run is recorded by createPipelineRun (its `claim`), in the run's transaction.
 */
export interface TriggerStore {
  /** Throws TriggerExistsError when a trigger of that name exists. */
  createTrigger(spec: TriggerSpec, now: number, audit?: AuditOf<Trigger>): Promise<Trigger>;
  /** Deletes the definition (its claims stay as history); false for an unknown trigger. */
  deleteTrigger(name: string, audit?: AuditOf<boolean>): Promise<boolean>;
  getTrigger(name: string): Promise<Trigger | null>;
  listTriggers(): Promise<Trigger[]>;
  /** Pauses or resumes the named triggers (all with 'all'); returns those changed. */
  setTriggersPaused(names: string[] | 'all', paused: boolean, audit?: AuditOf<Trigger[]>): Promise<Trigger[]>;
  /** Records the claims of files (the leader's, fenced), in one transaction; returns their ids, in order. */
  claimTriggerFiles(trigger: string, files: string[], now: number, fence?: Fence): Promise<number[]>;
  /** The trigger's claims not settled yet, oldest first, with their runs' states. */
  openTriggerClaims(trigger: string): Promise<OpenClaim[]>;
  /** Settles a claim: its file was moved to done/ or failed/, or it vanished before its run started. */
  settleTriggerClaim(id: number, settled: 'done' | 'failed' | 'lost', now: number): Promise<void>;
}
