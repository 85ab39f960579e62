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
 * The file is opened in the background (one fs.createWriteStream) while the
 * job starts; output that arrives first is buffered by the stream. A file that
 * cannot be opened or written does not fail the job: logging stops, the pipes
 * keep draining, and `error` says why.
 */
export class CappedLog {
  private readonly stream: WriteStream;
  private closing: Promise<void> | null = null;
  private readonly sources: Readable[] = [];
  private written = 0;
  private lastByte = 10;
  private _truncated = false;
  private failed: Error | null = null;

  /** Opens `logPath` for appending; its directory must exist. */
  constructor(
    logPath: string,
    private readonly capBytes: number,
  ) {
    const out = createWriteStream(logPath, { flags: 'a' });
    out.on('error', (err) => {
      // Disk full, I/O error, no permission: stop logging, keep draining. The job is not failed for its log.
      this.failed ??= err;
      this._truncated = true;
      this.resumeAll();
    });
    out.on('drain', () => this.resumeAll());
    this.stream = out;
  }

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
    this.closing = out.closed ? Promise.resolve() : new Promise((resolve) => out.once('close', () => resolve()));
    if (!out.destroyed) out.end();
    return this.closing;
  }

  private resumeAll(): void {
    for (const s of this.sources) s.resume();
  }

  private onData(source: Readable, chunk: Buffer): void {
    if (this._truncated || this.closing) return;
    const room = this.capBytes - this.written;
    if (chunk.length <= room) {
      this.written += chunk.length;
      this.lastByte = chunk[chunk.length - 1] ?? this.lastByte;
      if (!this.stream.write(chunk)) source.pause();
      return;
    }
    // Past the cap: write what fits, say so once, and drop the rest from now on.
    const head = chunk.subarray(0, room);
    this.written += head.length;
    if (head.length > 0) this.lastByte = head[head.length - 1] ?? this.lastByte;
    this._truncated = true;
    const out = this.stream;
    if (head.length > 0) out.write(head);
    out.write(`${this.lastByte === 10 ? '' : '\n'}[gpuq] log truncated at ${this.capBytes} bytes\n`);
    this.resumeAll();
  }
}
