import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { JsonLineDecoder } from './json-lines.js';
import { OomLineScanner } from './oom-lines.js';
import { decodeWorkerMessage, MAX_LINE_BYTES, type WorkerMessage } from './protocol.js';

/**
 * The worker, a child of the replica host (docs/pool-protocol.md): its stdin and stdout carry the protocol
 * as JSON lines; its stderr is copied to the host's stderr (the attempt's log) and scanned for CUDA
 * out-of-memory messages.
 *
 * The worker stays in the host's process group: the agent's kill of the attempt (SIGTERM to the group,
 * SIGKILL after its grace) reaches it directly, and so does the SIGKILL of the group when the host exits.
 *
 * Events, in order: any number of `message`, `protocolError` (at most once; no `message` after it), `oom`
 * (each OOM line), then `exit` exactly once, after the worker's stdout was read to its end (or a second
 * after it exited, when a grandchild keeps the pipe open).
 */

export interface WorkerSpec {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** The host's own variables that the worker must not see: the replica attempt's credential and where it is used. */
export const HOST_ONLY_ENV: readonly string[] = ['GPUQ_POOL_CREDENTIAL', 'GPUQ_API_URL'];

/** The worker's environment: the host's, minus HOST_ONLY_ENV, plus `extra`. */
export function workerEnv(hostEnv: Readonly<Record<string, string | undefined>>, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k in hostEnv) {
    const v = hostEnv[k];
    if (v !== undefined && !HOST_ONLY_ENV.includes(k)) env[k] = v;
  }
  return Object.assign(env, extra);
}

export type WorkerEvents = {
  /** A protocol message, with its line's length in characters (a lower bound of its bytes). */
  message: [message: WorkerMessage, chars: number];
  protocolError: [detail: string];
  oom: [line: string];
  /** How it ended; `spawnError` when it never ran (the program is missing, say). */
  exit: [code: number | null, signal: NodeJS.Signals | null, spawnError: string | null];
};

/** After the worker exited, how long its stdout may stay open (held by a grandchild) before `exit` is reported anyway. */
const STDIO_CLOSE_WAIT_MS = 1000;

export class WorkerProcess extends EventEmitter<WorkerEvents> {
  readonly pid: number | undefined;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly decoder: JsonLineDecoder;
  private readonly signals = new Set<NodeJS.Signals>();
  private queued: string[] = [];
  private blocked = false;
  private stdinEnding = false;
  private exitCode: number | null = null;
  private exitSignal: NodeJS.Signals | null = null;
  private exited = false;
  private reported = false;
  private protocolFailed = false;

  constructor(spec: WorkerSpec, stderr: Writable = process.stderr) {
    super();
    this.decoder = new JsonLineDecoder(
      MAX_LINE_BYTES,
      (value, chars) => {
        const m = decodeWorkerMessage(value);
        if (typeof m === 'string') this.protocolError(m);
        else this.emit('message', m, chars);
      },
      (detail) => this.protocolError(detail),
    );
    const oom = new OomLineScanner((line) => this.emit('oom', line));
    this.child = spawn(spec.argv[0] as string, spec.argv.slice(1), { cwd: spec.cwd, env: spec.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    const { stdin, stdout } = this.child;
    const err = this.child.stderr;
    // EPIPE once the worker is gone: its exit says what happened.
    stdin.on('error', () => {});
    stdout.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    stdout.on('end', () => this.decoder.end());
    err.on('data', (chunk: Buffer) => {
      stderr.write(chunk);
      oom.push(chunk);
    });
    err.on('end', () => oom.end());
    this.child.once('error', (e) => {
      // After a successful spawn, 'error' only reports a failed kill(); before it, the worker never ran.
      if (this.pid === undefined) this.report(null, null, `cannot start the worker ${JSON.stringify(spec.argv[0])}: ${e.message}`);
    });
    this.child.once('exit', (code, signal) => {
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      setTimeout(() => this.report(code, signal, null), STDIO_CLOSE_WAIT_MS).unref();
    });
    this.child.once('close', (code: number | null, signal: NodeJS.Signals | null) => this.report(this.exited ? this.exitCode : code, this.exited ? this.exitSignal : signal, null));
  }

  /** Whether the host sent this signal (a SIGKILL it did not send points at the kernel's OOM killer). */
  sent(signal: NodeJS.Signals): boolean {
    return this.signals.has(signal);
  }

  get running(): boolean {
    return this.pid !== undefined && !this.exited;
  }

  /** Writes protocol lines (each ending in "\n"); while the pipe is full, later writes wait for 'drain' and go out as one. */
  send(text: string): void {
    if (this.stdinEnding || this.exited) return;
    if (this.blocked) {
      this.queued.push(text);
      return;
    }
    if (!this.child.stdin.write(text)) {
      this.blocked = true;
      this.child.stdin.once('drain', this.drained);
    }
  }

  /** Closes the worker's stdin once everything sent is written: end of input. */
  endInput(): void {
    if (this.stdinEnding) return;
    this.stdinEnding = true;
    // While the pipe is full, `drained` writes what is queued and then ends it.
    if (this.blocked) return;
    this.child.stdin.end();
  }

  kill(signal: NodeJS.Signals): void {
    if (!this.running) return;
    this.signals.add(signal);
    this.child.kill(signal);
  }

  private readonly drained = (): void => {
    this.blocked = false;
    const text = this.queued.join('');
    this.queued = [];
    const ending = this.stdinEnding;
    this.stdinEnding = false;
    if (text.length > 0) this.send(text);
    if (ending) this.endInput();
  };

  private protocolError(detail: string): void {
    if (this.protocolFailed) return;
    this.protocolFailed = true;
    this.decoder.stop();
    this.emit('protocolError', detail);
  }

  private report(code: number | null, signal: NodeJS.Signals | null, spawnError: string | null): void {
    if (this.reported) return;
    this.reported = true;
    this.decoder.stop();
    this.emit('exit', code, signal, spawnError);
  }
}
