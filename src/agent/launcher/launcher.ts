import { fork, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import type { ExecResult, ExecStart, KillReason, RunningAttempt } from '../executor.js';
import { attemptMarker, killAttemptProcesses } from '../process-tree.js';
import type { AttemptLauncher, FromLauncher, LaunchRequest, ToLauncher } from './protocol.js';

/**
 * Node flags of the launcher process, after the agent's own (so --cpu-prof and
 * the like still reach it). Every fork copies the page tables of the process
 * that forks, so the launcher's memory is paid again on each job start (and on
 * each job's exit): measured on a 2-core VM, 100 MB more resident memory made
 * each spawn ~3 ms slower. The young generation is what grows under a burst of
 * starts (V8 enlarges it to 16 MB × 2 when allocation is fast); capped at 1 MB
 * it is scavenged more often, which costs little for the short-lived objects
 * the launcher makes, and the launcher stays at about half the memory (~45 MB
 * → ~21 MB anonymous). One V8 worker thread instead of four saves a little
 * more (~2 MB); the launcher has little garbage to collect in the background.
 */
const LAUNCHER_NODE_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1'];

class RemoteAttempt implements RunningAttempt {
  pid: number | null = null;
  readonly started: Promise<ExecStart>;
  readonly done: Promise<ExecResult>;
  resolveStarted!: (s: ExecStart) => void;
  rejectStarted!: (e: Error) => void;
  resolveDone!: (r: ExecResult) => void;

  constructor(
    readonly attemptId: number,
    readonly devices: readonly number[],
    /** Its process marker, to kill what is left of it if the launcher dies. */
    readonly marker: string,
    private readonly send: (msg: ToLauncher) => void,
  ) {
    this.started = new Promise<ExecStart>((res, rej) => ((this.resolveStarted = res), (this.rejectStarted = rej)));
    this.started.catch(() => {});
    this.done = new Promise<ExecResult>((res) => (this.resolveDone = res));
  }

  kill(reason: KillReason): void {
    this.send({ t: 'kill', attemptId: this.attemptId, reason });
  }
}

/**
 * The agent's side of the launcher process (see protocol.ts): the same
 * RunningAttempt interface as the in-process executor, carried over IPC. If
 * the launcher dies, the attempts it ran are killed by their marker and end
 * as failed (retryable), and a new launcher is started.
 */
export class ProcessLauncher implements AttemptLauncher {
  private readonly attempts = new Map<number, RemoteAttempt>();
  private child: ChildProcess;
  private stopping = false;

  private constructor(private readonly log: Logger) {
    this.child = this.spawnChild();
  }

  /** Starts the launcher process and waits until it is ready. */
  static async start(log: Logger): Promise<ProcessLauncher> {
    const launcher = new ProcessLauncher(log);
    await launcher.ready(launcher.child);
    return launcher;
  }

  /** Attempts started through this launcher that have not ended yet. */
  get running(): number {
    return this.attempts.size;
  }

  startAttempt(req: LaunchRequest): RunningAttempt {
    const attempt = new RemoteAttempt(req.attemptId, req.devices, attemptMarker(req.agentKey, req.attemptId), (m) => this.send(m));
    this.attempts.set(req.attemptId, attempt);
    this.send({ t: 'start', req });
    return attempt;
  }

  /** Kills the attempts still running (they end as failed, retryable) and waits for the launcher to exit. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.send({ t: 'stop' });
    await exited;
  }

  private outbox: ToLauncher[] = [];

  private send(msg: ToLauncher): void {
    this.outbox.push(msg);
    if (this.outbox.length === 1) setImmediate(() => this.flush());
  }

  private flush(): void {
    const batch = this.outbox;
    this.outbox = [];
    if (this.child.connected) this.child.send(batch);
  }

  private spawnChild(): ChildProcess {
    const child = fork(new URL('./launcher-process.js', import.meta.url), [], { execArgv: [...process.execArgv, ...LAUNCHER_NODE_FLAGS], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (batch: FromLauncher[]) => {
      for (const m of batch) this.onMessage(m);
    });
    child.once('exit', (code, signal) => {
      if (!this.stopping) void this.onCrash(code, signal);
    });
    return child;
  }

  private ready(child: ChildProcess): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`the launcher process exited (${code}) while starting`));
      child.once('exit', onExit);
      child.once('message', () => {
        child.off('exit', onExit);
        resolve();
      });
    });
  }

  private async onCrash(code: number | null, signal: string | null): Promise<void> {
    const lost = [...this.attempts.values()];
    this.attempts.clear();
    this.log.error({ code, signal, attempts: lost.length }, 'the launcher process died; killing its attempts and starting a new one');
    this.child = this.spawnChild();
    const killed = (await killAttemptProcesses(lost.map((a) => a.marker))).length;
    const now = performance.timeOrigin + performance.now();
    for (const a of lost) {
      a.rejectStarted(new Error('launcher died'));
      a.resolveDone({ state: 'failed', exitCode: null, signal: null, reason: `the launcher process died (${signal ?? code}); ${killed} process(es) killed`, retryable: true, startedAt: null, endedAt: now, logTruncated: false });
    }
  }

  private onMessage(m: FromLauncher): void {
    if (m.t === 'ready') return;
    if (m.t === 'orphansKilled') {
      this.log.warn({ processes: m.killed }, 'killed processes that outlived their attempts (they had left its process group)');
      return;
    }
    const a = this.attempts.get(m.attemptId);
    if (!a) return;
    switch (m.t) {
      case 'started':
        a.pid = m.pid;
        a.resolveStarted({ pid: m.pid, startedAt: m.startedAt });
        return;
      case 'notStarted':
        a.rejectStarted(new Error('the process did not start'));
        return;
      case 'ended':
        this.attempts.delete(m.attemptId);
        a.resolveDone(m.result);
        return;
    }
  }
}
