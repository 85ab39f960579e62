import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AttemptOutput } from '../core/job-output.js';
import { attemptEnv } from './attempt-env.js';
import { collectAttemptOutput } from './attempt-output.js';
import { AttemptLog } from './attempt-log.js';
import { OrphanSweep } from './orphan-sweep.js';
import { attemptMarker, findAttemptProcesses, groupAlive, groupMembers, killAttemptProcesses, sendSignal } from './process-tree.js';

/**
 * Runs one attempt as a process tree and reports how it ended.
 *
 * Lifecycle of an attempt:
 *   preparing (create the artifacts and log directories, open the log)
 *     → spawned (own session and process group, the log file as stdout and stderr; `started` resolves)
 *     → exited (leader reaped) → cleaned up (group killed, log cut to its cap and closed; `done` resolves)
 *   preparing → not started (spawn failed, or killed while preparing; `started` rejects, `done` resolves)
 *
 * Killing (cancel, timeout, shutdown): SIGTERM to the group; SIGKILL to the
 * group `killGraceMs` later if any member still lives; then a /proc scan
 * SIGKILLs any process still carrying the attempt's marker (descendants that
 * left the group with setsid). `done` resolves once none of them is alive,
 * so the attempt's GPUs are free when the agent reports the end.
 *
 * A normal exit SIGKILLs the group too (background children do not outlive
 * the job) but does not scan /proc before `done`, to keep the common path
 * cheap: one kill(2), which answers ESRCH when the job left nothing behind.
 * Descendants that escaped the group are found by the orphan sweep shortly
 * after (orphan-sweep.ts), and by killAttemptProcesses when the agent restarts.
 *
 * Assumes Linux (/proc, process groups).
 */

export type KillReason = 'cancel' | 'timeout' | 'shutdown';
export type ExecEndState = 'succeeded' | 'failed' | 'timed_out' | 'cancelled';

export interface ExecRequest {
  attemptId: number;
  jobId: number;
  attemptNumber: number;
  /** The node it runs on, shown to the job as GPUQ_NODE. */
  nodeId: string;
  /** The agent's key in the attempt's process marker (process-tree.ts): unique on the machine. */
  agentKey: string;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Device indices the attempt may use; the only ones its CUDA sees. */
  devices: number[];
  timeoutMs?: number;
  logPath: string;
  artifactsDir: string;
  logCapBytes: number;
  killGraceMs: number;
  now: () => number;
  /**
   * The environment the job inherits, before gpuq's own variables; inherited
   * CUDA_VISIBLE_DEVICES, NVIDIA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER and GPUQ_* are dropped.
   * Read once per object (it is filtered once and cached).
   * @default process.env
   */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Where an attempt that ended by itself is checked for processes that escaped its group.
   * @default one sweep shared by the process, which kills them without reporting
   */
  orphans?: OrphanSweep;
}

export interface ExecStart {
  pid: number;
  startedAt: number;
}

export interface ExecResult {
  state: ExecEndState;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  /** False when running again cannot help (the program does not exist, the attempt was cancelled). */
  retryable: boolean;
  /** null when the process never started. */
  startedAt: number | null;
  /** When the last process of the attempt was gone (or it was known it never started). */
  endedAt: number;
  logTruncated: boolean;
  /**
   * Its result and artifacts (core/job-output.ts), read once its processes are gone; absent when it never
   * started. A note on them (a result too big, not JSON) is also at the end of `reason`.
   */
  output?: AttemptOutput;
}

export interface RunningAttempt {
  readonly attemptId: number;
  readonly devices: readonly number[];
  /** The leader's pid (also the process group id); null until spawned, and when spawn failed. */
  readonly pid: number | null;
  /** Resolves once the process runs; rejects when it never started (`done` then says why). */
  readonly started: Promise<ExecStart>;
  /** Resolves (never rejects) when the attempt has ended and none of its processes is left. */
  readonly done: Promise<ExecResult>;
  /** Ends the attempt; the first reason given wins. Does nothing once the process has exited by itself. */
  kill(reason: KillReason): void;
}

/** After SIGKILL, how long to wait for processes to disappear before giving up and reporting them. */
const SIGKILL_WAIT_MS = 5_000;
/** Polling while processes die: starts short (they usually go at once), backs off so a /proc scan stays rare. */
const POLL_MS = 10;
const MAX_POLL_MS = 250;
/** Spawn errors that say the machine is short of something right now, not that the command is wrong. */
const TRANSIENT_SPAWN_ERRORS = new Set(['EAGAIN', 'ENOMEM', 'EMFILE', 'ENFILE']);

export function startAttempt(req: ExecRequest): RunningAttempt {
  return new AttemptProcess(req);
}

/** "2s", "1.5s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 100) / 10;
  return `${s}s`;
}

function errorCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const sharedOrphanSweep = new OrphanSweep();

/**
 * Creates the artifacts dir and the log's directory. In the
 * usual layout the log sits in a parent of the artifacts dir (jobs/<id>/attempt-N.log
 * beside jobs/<id>/artifacts-N), and one recursive mkdir makes both.
 *
 * Synchronous on purpose: two or three mkdir(2) calls on the local data dir
 * take microseconds, while going through libuv's thread pool costs a thread
 * hand-off and a wake-up of the event loop each, which was most of the cost of
 * preparing. (The data dir is local: the SQLite store requires it.)
 */
function prepareDirs(logPath: string, artifactsDir: string): string | null {
  const logDir = path.dirname(logPath);
  const both = artifactsDir === logDir || artifactsDir.startsWith(logDir + path.sep);
  try {
    mkdirSync(artifactsDir, { recursive: true });
  } catch (err) {
    return `cannot create artifacts dir ${artifactsDir}: ${message(err)}`;
  }
  if (!both) {
    try {
      mkdirSync(logDir, { recursive: true });
    } catch (err) {
      return `cannot create log dir ${logDir}: ${message(err)}`;
    }
  }
  return null;
}

/** Ref'd on purpose: clean-up waits are short, and `done` must resolve even when nothing else keeps the process alive. */
function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

class AttemptProcess implements RunningAttempt {
  readonly attemptId: number;
  readonly devices: readonly number[];
  pid: number | null = null;
  readonly started: Promise<ExecStart>;
  readonly done: Promise<ExecResult>;

  private resolveStarted!: (s: ExecStart) => void;
  private rejectStarted!: (e: Error) => void;
  private resolveDone!: (r: ExecResult) => void;
  private startedAt: number | null = null;
  private killReason: KillReason | null = null;
  private exited = false;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private graceOver = false;

  /** This attempt's process marker (process-tree.ts). */
  private readonly marker: string;

  constructor(private readonly req: ExecRequest) {
    this.attemptId = req.attemptId;
    this.marker = attemptMarker(req.agentKey, req.attemptId);
    this.devices = req.devices;
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve;
      this.rejectStarted = reject;
    });
    // A caller that only awaits `done` must not see an unhandled rejection.
    this.started.catch(() => {});
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    // In a microtask, not now: a kill() right after startAttempt() still finds the attempt preparing.
    // (A promise job rather than queueMicrotask, which wraps each callback in an AsyncResource.)
    void Promise.resolve().then(() => {
      try {
        this.run();
      } catch (err) {
        this.notStarted('failed', true, `cannot start: internal error: ${message(err)}`);
      }
    });
  }

  kill(reason: KillReason): void {
    if (this.killReason !== null || this.exited) return;
    this.killReason = reason;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.pid === null) return; // still preparing: run() sees the reason and does not spawn
    sendSignal(-this.pid, 'SIGTERM');
    this.graceTimer = setTimeout(() => {
      this.graceOver = true;
      if (this.pid !== null) sendSignal(-this.pid, 'SIGKILL');
    }, this.req.killGraceMs);
    this.graceTimer.unref();
  }

  private run(): void {
    const { req } = this;
    if (req.argv.length === 0 || !req.argv[0]) return this.notStarted('failed', false, 'cannot start: the command is empty');
    const unprepared = prepareDirs(req.logPath, req.artifactsDir);
    // A node-side problem (disk full, permissions on the data dir): another node or a later try may do.
    if (unprepared !== null) return this.notStarted('failed', true, `cannot start: ${unprepared}`);
    if (this.killReason !== null) return this.notStarted(...this.killOutcome());

    // A log that cannot be opened does not stop the job: it runs with its output discarded, and the result says so.
    let log: AttemptLog | null = null;
    let unlogged: string | null = null;
    try {
      log = AttemptLog.open(req.logPath, req.logCapBytes);
    } catch (err) {
      unlogged = message(err);
    }
    let child: ChildProcess;
    try {
      child = spawn(req.argv[0] as string, req.argv.slice(1), {
        cwd: req.cwd,
        // gpuq-allow-env: the job inherits the agent's environment (PATH, HOME, ...); this passes it on, it configures nothing.
        env: attemptEnv(req.baseEnv ?? process.env, req.env, req),
        detached: true,
        stdio: log === null ? 'ignore' : ['ignore', log.fd, log.fd],
      });
    } catch (err) {
      log?.close();
      return this.notStarted('failed', false, `cannot start: ${message(err)}`);
    }
    if (child.pid === undefined) {
      log?.close();
      child.once('error', (err) => {
        const code = errorCode(err);
        const hint = code === 'ENOENT' && req.cwd ? ` (the program, or the working directory ${req.cwd}, does not exist)` : '';
        this.notStarted('failed', code !== undefined && TRANSIENT_SPAWN_ERRORS.has(code), `cannot start: ${message(err)}${hint}`);
      });
      return;
    }

    const pid = child.pid;
    this.pid = pid;
    this.startedAt = req.now();
    this.resolveStarted({ pid, startedAt: this.startedAt });
    // After a successful spawn, 'error' only reports a failed kill(); we signal with process.kill instead.
    child.on('error', () => {});
    child.once('exit', (code, signal) => {
      this.exited = true;
      if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
      void this.cleanUp(pid, code, signal, log, unlogged);
    });
    if (req.timeoutMs !== undefined) {
      this.timeoutTimer = setTimeout(() => this.kill('timeout'), req.timeoutMs);
      this.timeoutTimer.unref();
    }
  }

  private async cleanUp(pgid: number, code: number | null, signal: NodeJS.Signals | null, log: AttemptLog | null, unlogged: string | null): Promise<void> {
    let leftovers: number[] = [];
    let trouble = '';
    try {
      if (this.killReason !== null) {
        // The leader is gone; give the rest of the group the remainder of the grace to exit on SIGTERM.
        for (let wait = POLL_MS; !this.graceOver && (await groupAlive(pgid)); wait = Math.min(wait * 2, MAX_POLL_MS)) await delay(wait);
        sendSignal(-pgid, 'SIGKILL');
        await killAttemptProcesses([this.marker]);
        leftovers = await this.waitGone(pgid, true);
      } else {
        // The job left children in its group (ESRCH, the common case, says it did not): they go with it,
        // and the attempt ends once they are gone, so the next job gets its GPUs free.
        if (sendSignal(-pgid, 'SIGKILL')) leftovers = await this.waitGone(pgid, false);
        (this.req.orphans ?? sharedOrphanSweep).add(this.marker);
      }
    } catch (err) {
      // /proc unreadable or the like: report it rather than leave `done` pending forever.
      trouble = `; cleaning up its processes failed: ${message(err)}`;
    } finally {
      if (this.graceTimer) clearTimeout(this.graceTimer);
      log?.close();
    }
    const [state, retryable, reason] = this.killReason !== null ? this.killOutcome() : exitOutcome(code, signal);
    const left = leftovers.length > 0 ? `; ${leftovers.length} process(es) still present after SIGKILL: ${leftovers.join(', ')}` : '';
    const lost = unlogged !== null ? `; its output was not logged: ${unlogged}` : log?.error ? `; its log could not be kept to its cap: ${log.error.message}` : '';
    const endedAt = this.req.now();
    // Read once nothing of the attempt runs any more, so the files are complete; whatever happens reading them, the attempt ends as it did.
    const output = await collectAttemptOutput(this.req.artifactsDir).catch((err: unknown): AttemptOutput => ({ result: null, note: `its result and artifacts could not be read: ${message(err)}`, artifacts: [] }));
    this.resolveDone({
      state,
      exitCode: code,
      signal,
      reason: reason + left + trouble + lost + (output.note ? `; ${output.note}` : ''),
      retryable,
      startedAt: this.startedAt,
      endedAt,
      logTruncated: log?.truncated ?? false,
      output,
    });
  }

  /**
   * After SIGKILL: waits until no member of the group (and, with `marked`, no
   * process carrying the attempt's marker) is alive. Returns the pids still
   * alive at the deadline (stuck in the kernel, e.g. in a driver call).
   */
  private async waitGone(pgid: number, marked: boolean): Promise<number[]> {
    const deadline = performance.now() + SIGKILL_WAIT_MS;
    for (let wait = POLL_MS; ; wait = Math.min(wait * 2, MAX_POLL_MS)) {
      const escaped = marked ? (await findAttemptProcesses([this.marker])).map((p) => p.pid) : [];
      if (escaped.length === 0 && !(await groupAlive(pgid))) return [];
      if (performance.now() >= deadline) return [...new Set([...escaped, ...(await groupMembers(pgid))])];
      sendSignal(-pgid, 'SIGKILL');
      for (const p of escaped) sendSignal(p, 'SIGKILL');
      await delay(wait);
    }
  }

  private killOutcome(): [ExecEndState, boolean, string] {
    switch (this.killReason) {
      case 'timeout':
        return ['timed_out', true, `timed out after ${formatDuration(this.req.timeoutMs ?? 0)}`];
      case 'shutdown':
        // Not the job's fault: it may run again elsewhere.
        return ['failed', true, 'interrupted: the gpuq agent shut down'];
      default:
        return ['cancelled', false, 'cancelled'];
    }
  }

  private notStarted(state: ExecEndState, retryable: boolean, reason: string): void {
    this.rejectStarted(new Error(reason));
    this.resolveDone({ state, exitCode: null, signal: null, reason, retryable, startedAt: null, endedAt: this.req.now(), logTruncated: false });
  }
}

function exitOutcome(code: number | null, signal: NodeJS.Signals | null): [ExecEndState, boolean, string] {
  if (code === 0) return ['succeeded', false, 'exited with code 0'];
  if (code !== null) return ['failed', true, `exited with code ${code}`];
  return ['failed', true, `killed by ${signal ?? 'an unknown signal'}`];
}
