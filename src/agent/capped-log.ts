import { createWriteStream, type WriteStream } from 'node:fs';
import type { Readable } from 'node:stream';

/**
 * Appends an attempt's stdout and stderr to its log file, up to `capBytes`.
 * At the cap it writes one line, `[gpuq] log truncated at N bytes`, and from
 * then on reads and drops everything, so the job never blocks on a full pipe.
 * Below the cap, a slow disk applies backpressure: the pipes are paused until
 * the file catches up (the job then blocks in write(2), as it would on a
 * terminal), so memory use stays bounded.
 *
 * The file is opened on the first output (one fs.createWriteStream; output
 * that arrives while it opens is buffered by the stream), so an attempt that
 * prints nothing costs no open or close and leaves no file: readers treat a
 * missing log as empty. A file that cannot be opened or written does not fail
 * the job: logging stops, the pipes keep draining, and `error` says why.
 */
export class CappedLog {
  private stream: WriteStream | null = null;
  private closing: Promise<void> | null = null;
  private readonly sources: Readable[] = [];
  private written = 0;
  private lastByte = 10;
  private _truncated = false;
  private failed: Error | null = null;

  /** Appends to `logPath` once there is output; its directory must exist by then. */
  constructor(
    private readonly logPath: string,
    private readonly capBytes: number,
  ) {}

  get truncated(): boolean {
    return this._truncated;
  }

  get bytes(): number {
    return this.written;
  }

  /** Why writing the log stopped, if the disk refused it. */
  get error(): Error | null {
    return this.failed;
  }

  attach(source: Readable): void {
    this.sources.push(source);
    source.on('data', (chunk: Buffer) => this.onData(source, chunk));
  }

  /** Flushes and closes the file. Call once the sources have ended (or been destroyed); later output is dropped. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.resumeAll();
    const out = this.stream;
    if (out === null) return (this.closing = Promise.resolve());
    this.closing = out.closed ? Promise.resolve() : new Promise((resolve) => out.once('close', () => resolve()));
    if (!out.destroyed) out.end();
    return this.closing;
  }

  private open(): WriteStream {
    const out = createWriteStream(this.logPath, { flags: 'a' });
    out.on('error', (err) => {
      // Disk full, I/O error, no permission: stop logging, keep draining. The job is not failed for its log.
      this.failed ??= err;
      this._truncated = true;
      this.resumeAll();
    });
    out.on('drain', () => this.resumeAll());
    this.stream = out;
    return out;
  }

  private resumeAll(): void {
    for (const s of this.sources) s.resume();
  }

  private onData(source: Readable, chunk: Buffer): void {
    if (this._truncated || this.closing) return;
    const out = this.stream ?? this.open();
    const room = this.capBytes - this.written;
    if (chunk.length <= room) {
      this.written += chunk.length;
      this.lastByte = chunk[chunk.length - 1] ?? this.lastByte;
      if (!out.write(chunk)) source.pause();
      return;
    }
    // Past the cap: write what fits, say so once, and drop the rest from now on.
    const head = chunk.subarray(0, room);
    this.written += head.length;
    if (head.length > 0) this.lastByte = head[head.length - 1] ?? this.lastByte;
    this._truncated = true;
    if (head.length > 0) out.write(head);
    out.write(`${this.lastByte === 10 ? '' : '\n'}[gpuq] log truncated at ${this.capBytes} bytes\n`);
    this.resumeAll();
  }
}
