import type { Writable } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { POOL_LIMITS } from '../core/pool-limits.js';
import { encodeTask, HOST_EXIT, MAX_ERROR_CHARS, SHUTDOWN_LINE, type ClaimedTaskWire, type ExchangeResponse, type HostEndReason, type TaskOutcome, type WorkerMessage } from './protocol.js';
import type { ReplicaLink } from './replica-link.js';
import { kernelOomKills } from './kernel-oom.js';
import { ResultBuffer } from './result-buffer.js';
import { WorkerProcess, type WorkerSpec } from './worker-process.js';

/**
 * The replica host: runs the worker and trades its results for new tasks with the control plane.
 *
 * Phases:
 *   starting (worker spawned, loading) ─ready→ registering (POST ready) ─ok→ running
 *   running ─exchange says stop→ stopping: no more claims; once nothing is held or unsent, `shutdown` to the
 *     worker (SIGTERM after the grace, SIGKILL after another); its exit ends the replica `stopped`, status 0
 *   any live phase ─SIGTERM to the host (terminate())→ terminating: `shutdown` at once, the same grace, results
 *     still posted, no more claims; the worker's exit ends the host with 143 and no end report (the control plane
 *     evicted it and knows why)
 *   any live phase ─failure→ ending: worker SIGKILLed, results held posted, the end reason reported, exit status
 *     HOST_EXIT[reason]. Failures: the worker exits by itself (crashed, or oom after an OOM line or a SIGKILL the
 *     host did not send while the kernel's OOM killer acted), no ready in time (start-timeout), a task held too long (task-timeout), an OOM line with
 *     kill-on-oom (oom), a line outside the protocol (protocol-error). REPLICA_GONE (status 4) and an unreachable
 *     control plane (8) end it without posting anything.
 *
 * Exchanges: at most one request is in flight. Results that arrive in one event-loop turn go out together, and
 * as soon as the exchange in flight returns. Nothing held: a long-poll for up to `concurrency` tasks (carrying
 * the last results, if any: the server records them before it waits). Tasks held: no long-poll (results would
 * wait behind it); slots left free are filled by the next exchange that posts results, or by a short poll after
 * `sparePoll` (backing off while it finds none).
 *
 * Lost answers: each exchange lists the tasks the host holds (`held`: in the worker, or answered with the result
 * still buffered), and the server hands back first the tasks it runs under this attempt that the list lacks: those
 * an earlier exchange claimed but whose answer never arrived (the link retries a failed request with the same body).
 * The list is right because of the one-exchange-at-a-time rule: tasks come in only with an exchange's answer, so
 * while a call is out (retries included) nothing can join what the host holds, and no other call can be bringing
 * tasks in that this one would report as not held. A task handed back that the host already holds is not sent to
 * the worker again (dispatch). Buffered results hold back claims (`want`), so the host holds at most `concurrency`
 * tasks in all and `held` stays within the protocol's limit.
 */

export interface ReplicaHostOptions {
  pool: string;
  worker: WorkerSpec;
  /** Tasks the worker holds at most. */
  concurrency: number;
  taskTimeoutMs: number;
  startTimeoutMs: number;
  /** After `shutdown`, how long the worker has before SIGTERM; and after SIGTERM, before SIGKILL. */
  graceMs: number;
  /** End the replica at the first CUDA out-of-memory line; else only count such lines. */
  killOnOom: boolean;
  link: ReplicaLink;
  clock: Clock;
  /** One diagnostic line (no newline). @default process.stderr, prefixed "gpuq-pool-host: " */
  log?: (line: string) => void;
  /** Where the worker's stderr is copied. @default process.stderr */
  workerStderr?: Writable;
  /** Polls for spare slots while tasks are held. @default { initialMs: 50, maxMs: 2000 } */
  sparePoll?: { initialMs: number; maxMs: number };
  /** Kills by the kernel's OOM killer so far (null: unknown). @default kernelOomKills, from /proc/vmstat */
  oomKills?: () => number | null;
}

type Phase = 'starting' | 'registering' | 'running' | 'stopping' | 'terminating' | 'ending' | 'done';

interface HeldTask {
  attempt: number;
  deadline: number;
}

const LONG_POLL_MS = 25_000;
/** After SIGKILL, how long to wait for the worker's exit before exiting anyway. */
const KILL_WAIT_MS = 5_000;

export class ReplicaHost {
  private phase: Phase = 'starting';
  private worker!: WorkerProcess;
  private readonly log: (line: string) => void;
  /** Tasks in the worker, in the order given (so the first has the earliest deadline). */
  private readonly held = new Map<number, HeldTask>();
  private readonly pending = new ResultBuffer();
  private exchanging: { waitMs: number; abort: AbortController } | null = null;
  private idleWaiters: (() => void)[] = [];
  private pumpQueued = false;
  private startTimer: NodeJS.Timeout | null = null;
  private taskTimer: NodeJS.Timeout | null = null;
  private spareTimer: NodeJS.Timeout | null = null;
  private spareDue = false;
  private spareMs: number;
  private graceTimer: NodeJS.Timeout | null = null;
  private readySeen = false;
  private shutdownSent = false;
  private escalated: 'SIGTERM' | 'SIGKILL' | null = null;
  private oomLines = 0;
  private firstOom: string | null = null;
  private startedAt = 0;
  private readonly oomKills: () => number | null;
  /** The kernel's OOM kill count when the worker started. */
  private oomKillsAtStart: number | null = null;
  private workerExited = false;
  private onWorkerGone: () => void = () => {};
  private readonly workerGone = new Promise<void>((r) => (this.onWorkerGone = r));
  private resolveExit: (code: number) => void = () => {};

  constructor(private readonly o: ReplicaHostOptions) {
    this.log = o.log ?? ((line) => process.stderr.write(`gpuq-pool-host: ${line}\n`));
    this.spareMs = o.sparePoll?.initialMs ?? 50;
    this.oomKills = o.oomKills ?? kernelOomKills;
  }

  /** Starts the worker; resolves with the host's exit status (protocol.ts HOST_EXIT) once it is over. */
  run(): Promise<number> {
    const done = new Promise<number>((r) => (this.resolveExit = r));
    this.startedAt = this.o.clock.now();
    this.oomKillsAtStart = this.oomKills();
    let w: WorkerProcess;
    try {
      w = new WorkerProcess(this.o.worker, this.o.workerStderr);
    } catch (err) {
      // spawn() refused its arguments outright (most failures to start come later, as the worker's exit).
      const detail = `cannot start the worker: ${err instanceof Error ? err.message : String(err)}`;
      this.phase = 'ending';
      this.workerExited = true;
      this.log(`ending: crashed (${detail}); exit status ${HOST_EXIT.crashed}`);
      void this.wrapUp(HOST_EXIT.crashed, { reason: 'crashed', detail }, false);
      return done;
    }
    this.worker = w;
    w.on('message', this.onMessage);
    w.on('protocolError', (detail) => this.end('protocol-error', detail));
    w.on('oom', (line) => this.onOom(line));
    w.on('exit', (code, signal, spawnError) => this.onWorkerExit(code, signal, spawnError));
    if (w.pid !== undefined) this.log(`pool ${this.o.pool}: worker started, pid ${w.pid}: ${this.o.worker.argv.join(' ')}`);
    this.startTimer = setTimeout(() => this.end('start-timeout', `the worker did not say "ready" within ${this.o.startTimeoutMs} ms`), this.o.startTimeoutMs);
    return done;
  }

  /** SIGTERM to the host (eviction, cancel): shut the worker down within the grace and exit 143. */
  terminate(): void {
    if (this.phase === 'terminating' || this.phase === 'ending' || this.phase === 'done') return;
    this.phase = 'terminating';
    this.clearTimer('startTimer');
    this.clearTimer('spareTimer');
    this.log(`SIGTERM: shutting the worker down (${this.held.size} task(s) held, grace ${this.o.graceMs} ms)`);
    // A long-poll holds nothing and claims what nobody will run now; anything it claims is redelivered when this attempt ends.
    if (this.exchanging !== null && this.exchanging.waitMs > 0) this.exchanging.abort.abort();
    this.shutdownWorker();
    this.schedule();
  }

  // ── the worker ──────────────────────────────────────────────────────────

  private readonly onMessage = (m: WorkerMessage, chars: number): void => {
    if (this.phase === 'ending' || this.phase === 'done') return;
    switch (m.type) {
      case 'result':
      case 'error': {
        const t = this.held.get(m.id);
        if (t === undefined) return this.end('protocol-error', `the worker answered task ${m.id}, which it does not hold`);
        this.held.delete(m.id);
        if (m.type === 'result') {
          // Lines are at most 3 bytes per character: only a long one can hold a result over the limit.
          const bytes = chars * 3 > POOL_LIMITS.maxPayloadBytes ? Buffer.byteLength(JSON.stringify(m.result) ?? 'null') : 0;
          if (bytes > POOL_LIMITS.maxPayloadBytes) this.push({ taskId: m.id, attempt: t.attempt, error: `the worker's result is ${bytes} bytes of JSON; at most ${POOL_LIMITS.maxPayloadBytes}`, retryable: false }, 200);
          else this.push({ taskId: m.id, attempt: t.attempt, result: m.result }, chars);
        } else {
          const error = m.error.length > MAX_ERROR_CHARS ? `${m.error.slice(0, MAX_ERROR_CHARS - 20)}… (cut by gpuq)` : m.error;
          this.push({ taskId: m.id, attempt: t.attempt, error, retryable: m.retryable }, error.length);
        }
        return;
      }
      case 'ready':
        if (this.readySeen) return this.end('protocol-error', 'the worker said "ready" twice');
        this.readySeen = true;
        if (this.phase !== 'starting') return;
        this.clearTimer('startTimer');
        this.phase = 'registering';
        this.log(`worker ready after ${Math.round(this.o.clock.now() - this.startedAt)} ms`);
        void this.register();
        return;
      case 'heartbeat':
        return;
    }
  };

  private onOom(line: string): void {
    this.oomLines++;
    this.firstOom ??= line;
    this.log(`CUDA out-of-memory in the worker's stderr${this.o.killOnOom ? '' : ' (kill-on-oom is off: the worker keeps running)'}: ${line}`);
    if (this.o.killOnOom && this.phase !== 'terminating') this.end('oom', line);
  }

  private onWorkerExit(code: number | null, signal: NodeJS.Signals | null, spawnError: string | null): void {
    this.workerExited = true;
    this.onWorkerGone();
    const how = spawnError ?? (signal !== null ? `was killed by ${signal}` : `exited with code ${code}`);
    switch (this.phase) {
      case 'ending':
      case 'done':
        return;
      case 'terminating':
        return this.finish(HOST_EXIT.terminated, null, true, `the worker ${how} after SIGTERM`);
      case 'stopping':
        if (this.shutdownSent) {
          const forced = this.escalated !== null ? `; it did not exit within the grace after "shutdown" (${this.escalated})` : '';
          return this.end('stopped', code === 0 && forced === '' ? null : `the worker ${how} after "shutdown"${forced}`);
        }
        break;
      default:
        break;
    }
    if (spawnError !== null) return this.end('crashed', spawnError);
    const held = this.held.size > 0 ? ` holding ${this.held.size} task(s)` : '';
    if (this.firstOom !== null) return this.end('oom', this.firstOom);
    if (signal === 'SIGKILL' && !this.worker.sent('SIGKILL')) {
      const oomKills = this.oomKills();
      if (oomKills !== null && this.oomKillsAtStart !== null && oomKills > this.oomKillsAtStart) return this.end('oom', `the worker was killed by SIGKILL while the kernel's out-of-memory killer acted (oom_kill ${this.oomKillsAtStart} → ${oomKills})${held}`);
      return this.end('crashed', `the worker was killed by SIGKILL, not sent by gpuq${held}`);
    }
    this.end('crashed', `the worker ${how}${held}${code === 0 ? ' without being asked to stop' : ''}`);
  }

  private shutdownWorker(): void {
    if (this.shutdownSent) return;
    this.shutdownSent = true;
    this.worker.send(SHUTDOWN_LINE);
    this.worker.endInput();
    this.graceTimer = setTimeout(() => {
      this.escalated = 'SIGTERM';
      this.worker.kill('SIGTERM');
      this.graceTimer = setTimeout(() => {
        this.escalated = 'SIGKILL';
        this.worker.kill('SIGKILL');
      }, this.o.graceMs);
    }, this.o.graceMs);
  }

  // ── tasks ───────────────────────────────────────────────────────────────

  private dispatch(tasks: ClaimedTaskWire[]): void {
    const deadline = this.o.clock.now() + this.o.taskTimeoutMs;
    let text = '';
    for (const t of tasks) {
      const h = this.held.get(t.id);
      // Claimed again while held (the server's deadline passed before ours): the worker already has it; answer for the
      // new attempt. Handed back while held (an answer thought lost, or twice in one answer): never sent twice.
      if (h !== undefined) h.attempt = t.attempt;
      else {
        this.held.set(t.id, { attempt: t.attempt, deadline });
        text += encodeTask(t.id, t.attempt, t.payload);
      }
    }
    if (text.length > 0) this.worker.send(text);
    this.armTaskTimer();
  }

  private push(outcome: TaskOutcome, chars: number): void {
    this.pending.push(outcome, chars);
    this.schedule();
  }

  private armTaskTimer(): void {
    if (this.taskTimer !== null) return;
    const first = this.held.values().next();
    if (first.done === true) return;
    this.taskTimer = setTimeout(this.checkTaskTimeout, Math.max(0, first.value.deadline - this.o.clock.now()));
  }

  private readonly checkTaskTimeout = (): void => {
    this.taskTimer = null;
    if (this.phase === 'terminating' || this.phase === 'ending' || this.phase === 'done') return;
    const first = this.held.entries().next();
    if (first.done === true) return;
    const [id, t] = first.value;
    if (t.deadline <= this.o.clock.now()) return this.end('task-timeout', `task ${id} (attempt ${t.attempt}) was held longer than ${this.o.taskTimeoutMs} ms`);
    this.armTaskTimer();
  };

  // ── the control plane ───────────────────────────────────────────────────

  private async register(): Promise<void> {
    let r: 'ok' | 'gone';
    try {
      r = await this.o.link.ready();
    } catch (err) {
      return this.unreachable(err);
    }
    if (r === 'gone') return this.gone();
    if (this.phase !== 'registering') return;
    this.phase = 'running';
    this.schedule();
  }

  private schedule(): void {
    if (this.pumpQueued || this.exchanging !== null) return;
    this.pumpQueued = true;
    setImmediate(this.pump);
  }

  /** Decides the next exchange, if any (see the module comment). */
  private readonly pump = (): void => {
    this.pumpQueued = false;
    const p = this.phase;
    if (this.exchanging !== null || (p !== 'running' && p !== 'stopping' && p !== 'terminating')) return;
    const want = p === 'running' ? Math.max(0, Math.min(POOL_LIMITS.maxClaim, this.o.concurrency - this.held.size)) : 0;
    // Nothing held: no result can arrive while a long-poll waits, and the server records the results it brings
    // before it waits, so they may ride along. Something held: answer at once, so the next results are not kept waiting.
    if (this.pending.length > 0) return void this.exchange(want, want > 0 && this.held.size === 0 ? LONG_POLL_MS : 0, false);
    if (p === 'stopping') {
      if (this.held.size === 0) this.shutdownWorker();
      return;
    }
    if (want === 0) return;
    if (this.held.size === 0) return void this.exchange(want, LONG_POLL_MS, false);
    if (this.spareDue) return void this.exchange(want, 0, true);
    this.spareTimer ??= setTimeout(() => {
      this.spareTimer = null;
      this.spareDue = true;
      this.pump();
    }, this.spareMs);
  };

  private async exchange(want: number, waitMs: number, spare: boolean): Promise<void> {
    this.clearTimer('spareTimer');
    this.spareDue = false;
    const taken = this.pending.take();
    const { results } = taken;
    // Taken together with the results, with no await between: see "Lost answers" above.
    const held = this.heldIds();
    // Results left in the buffer (more than one request carries) count against the concurrency like tasks in the worker.
    if (held.length > this.held.size) {
      want = Math.min(want, Math.max(0, this.o.concurrency - held.length));
      if (want === 0) waitMs = 0;
    }
    const abort = new AbortController();
    this.exchanging = { waitMs, abort };
    let res: ExchangeResponse | 'gone';
    try {
      res = await this.o.link.exchange({ results, held, want, waitMs }, abort.signal);
    } catch (err) {
      this.exchangeOver();
      if (abort.signal.aborted) {
        // Unacknowledged: sent again (the store accepts each result once).
        this.pending.putBack(taken);
        this.schedule();
        return;
      }
      return this.unreachable(err);
    }
    this.exchangeOver();
    if (res === 'gone') return this.gone();
    if (this.phase === 'ending' || this.phase === 'done') return;
    if (res.tasks.length > 0) this.spareMs = this.o.sparePoll?.initialMs ?? 50;
    else if (spare) this.spareMs = Math.min(this.spareMs * 2, this.o.sparePoll?.maxMs ?? 2000);
    if (res.stop && this.phase === 'running') {
      this.phase = 'stopping';
      this.log(`asked to stop: finishing ${this.held.size} task(s) held, then shutting the worker down`);
    }
    // Tasks claimed after SIGTERM are not started: they are redelivered when this attempt ends.
    if (res.tasks.length > 0 && (this.phase === 'running' || this.phase === 'stopping')) this.dispatch(res.tasks);
    this.schedule();
  }

  /** The tasks the host holds: in the worker, and answered with the result still in the buffer (not taken yet). */
  private heldIds(): number[] {
    const ids = [...this.held.keys()];
    if (this.pending.length === 0) return ids;
    const all = new Set(ids);
    for (const id of this.pending.taskIds()) all.add(id);
    return [...all];
  }

  private exchangeOver(): void {
    this.exchanging = null;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  // ── ending ──────────────────────────────────────────────────────────────

  private end(reason: HostEndReason, detail: string | null): void {
    const oom = reason !== 'oom' && this.oomLines > 0 ? `${this.oomLines} CUDA out-of-memory line(s) in the worker's stderr, the first: ${this.firstOom}` : null;
    const full = detail !== null && oom !== null ? `${detail}; ${oom}` : (detail ?? oom);
    this.finish(HOST_EXIT[reason], { reason, detail: full !== null && full.length > MAX_ERROR_CHARS ? full.slice(0, MAX_ERROR_CHARS) : full }, true, null);
  }

  private gone(): void {
    this.finish(HOST_EXIT.gone, null, false, 'the control plane says this replica attempt is gone (REPLICA_GONE): stopping the worker');
  }

  private unreachable(err: unknown): void {
    this.finish(HOST_EXIT.unreachable, null, false, `giving up on the control plane: ${err instanceof Error ? err.message : String(err)}`);
  }

  /**
   * Kills the worker (if still running), cuts short the exchange in flight, posts the results held (`flush`),
   * reports the end, and resolves run() once the worker is gone. Once terminating, the eviction is the reason:
   * status 143, no end report.
   */
  private finish(code: number, report: { reason: HostEndReason; detail: string | null } | null, flush: boolean, note: string | null): void {
    if (this.phase === 'ending' || this.phase === 'done') return;
    const terminating = this.phase === 'terminating';
    this.phase = 'ending';
    for (const t of ['startTimer', 'taskTimer', 'spareTimer', 'graceTimer'] as const) this.clearTimer(t);
    this.worker.kill('SIGKILL');
    if (terminating && code !== HOST_EXIT.gone && code !== HOST_EXIT.unreachable) {
      code = HOST_EXIT.terminated;
      report = null;
    }
    if (note !== null) this.log(note);
    if (report !== null) this.log(`ending: ${report.reason}${report.detail !== null ? ` (${report.detail})` : ''}; exit status ${code}`);
    void this.wrapUp(code, report, flush);
  }

  private async wrapUp(code: number, report: { reason: HostEndReason; detail: string | null } | null, flush: boolean): Promise<void> {
    if (this.exchanging !== null) {
      this.exchanging.abort.abort();
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
    try {
      while (flush && this.pending.length > 0) {
        const { results } = this.pending.take();
        if ((await this.o.link.exchange({ results, held: this.heldIds(), want: 0, waitMs: 0 })) === 'gone') break;
      }
      if (report !== null) await this.o.link.end(report.reason, report.detail);
    } catch (err) {
      this.log(`could not report to the control plane: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!this.workerExited) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.workerGone, new Promise<void>((r) => (timer = setTimeout(r, KILL_WAIT_MS)))]);
      clearTimeout(timer);
    }
    this.phase = 'done';
    this.resolveExit(code);
  }

  private clearTimer(name: 'startTimer' | 'taskTimer' | 'spareTimer' | 'graceTimer'): void {
    const t = this[name];
    if (t !== null) clearTimeout(t);
    this[name] = null;
  }
}
