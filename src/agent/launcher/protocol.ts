import type { ExecRequest, ExecResult, KillReason, RunningAttempt } from '../executor.js';
import type { MarkedProcess } from '../process-tree.js';

/**
 * Messages between the agent and its launcher process over the IPC channel.
 * Job processes are spawned by a small dedicated process because fork() cost
 * grows with the parent's memory: from the lean launcher, spawning runs at the
 * speed of a bare Node process, whatever the size of the server.
 */
export type LaunchRequest = Omit<ExecRequest, 'now' | 'baseEnv' | 'orphans'>;

/** Messages travel in batches (one IPC write per event-loop turn), so a burst of attempts costs a few writes, not thousands. */
export type ToLauncher =
  | { t: 'start'; req: LaunchRequest }
  | { t: 'kill'; attemptId: number; reason: KillReason }
  | { t: 'stop' };

export type FromLauncher =
  | { t: 'ready' }
  | { t: 'started'; attemptId: number; pid: number; startedAt: number }
  | { t: 'notStarted'; attemptId: number }
  | { t: 'ended'; attemptId: number; result: ExecResult }
  /** Processes that escaped the group of an attempt that had ended by itself, found and killed by the orphan sweep. */
  | { t: 'orphansKilled'; killed: MarkedProcess[] };

/** Starts attempts: the launcher process, or (in tests of the agent) the in-process executor. */
export interface AttemptLauncher {
  startAttempt(req: LaunchRequest): RunningAttempt;
}
