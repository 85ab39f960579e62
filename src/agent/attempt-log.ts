import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * An attempt's log file. The job writes it itself: the file (opened O_APPEND)
 * is its stdout and stderr, so output costs gpuq nothing per byte and a spawn
 * needs no pipes (ADR 0004).
 *
 * The size cap is kept by cutting the file back rather than by refusing
 * bytes: every open log is checked every CAP_CHECK_MS, and once more when the
 * job has ended. A log over the cap is truncated to `capBytes` and one line,
 * `[gpuq] log truncated at N bytes`, follows the kept head. While the job
 * runs, output it writes after that lands past the line until the next check
 * cuts it off again, so the file exceeds the cap by at most one check period
 * of output; once the attempt has ended the file is exactly the head and the
 * line. (Kubernetes caps container logs the same way, by a periodic check.)
 */

/** How often open logs are measured against their cap. */
export const CAP_CHECK_MS = 1000;

const open = new Set<AttemptLog>();
let checkTimer: NodeJS.Timeout | null = null;

function checkAll(): void {
  for (const log of open) log.enforceCap();
}

export class AttemptLog {
  /** The truncation line once written (it sits right after the kept head), else null. */
  private marker: Buffer | null = null;
  private _error: Error | null = null;
  private closed = false;

  private constructor(
    private readonly path: string,
    /** Opened O_APPEND: the job's stdout and stderr, and how gpuq measures the file. */
    readonly fd: number,
    private readonly capBytes: number,
  ) {}

  /** Opens (creating, appending to) the log; its directory must exist. Throws when the file cannot be opened. */
  static open(path: string, capBytes: number): AttemptLog {
    const log = new AttemptLog(path, openSync(path, 'a'), capBytes);
    open.add(log);
    if (checkTimer === null) {
      checkTimer = setInterval(checkAll, CAP_CHECK_MS);
      checkTimer.unref();
    }
    return log;
  }

  get truncated(): boolean {
    return this.marker !== null;
  }

  /** Why the cap could not be kept (the file could not be measured or cut), if it could not. */
  get error(): Error | null {
    return this._error;
  }

  /** Cuts the file back to the cap and the truncation line if it grew past them. */
  enforceCap(): void {
    if (this._error !== null) return;
    try {
      const size = fstatSync(this.fd).size;
      if (this.marker !== null) {
        // The job only appends (O_APPEND): the line is still in place, and what follows it goes.
        if (size > this.capBytes + this.marker.length) ftruncateSync(this.fd, this.capBytes + this.marker.length);
        return;
      }
      if (size <= this.capBytes) return;
      // A second descriptor without O_APPEND, so the line lands right after the head whatever the job appends meanwhile.
      const at = openSync(this.path, 'r+');
      try {
        const line = `[gpuq] log truncated at ${this.capBytes} bytes\n`;
        const marker = Buffer.from(this.capBytes > 0 && byteAt(at, this.capBytes - 1) !== 0x0a ? `\n${line}` : line);
        ftruncateSync(at, this.capBytes);
        writeSync(at, marker, 0, marker.length, this.capBytes);
        ftruncateSync(at, this.capBytes + marker.length);
        this.marker = marker;
      } finally {
        closeSync(at);
      }
    } catch (err) {
      this._error = err instanceof Error ? err : new Error(String(err));
    }
  }

  /** Measures the file a last time and closes it. Call once the job's processes are gone. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.enforceCap();
    open.delete(this);
    if (open.size === 0 && checkTimer !== null) {
      clearInterval(checkTimer);
      checkTimer = null;
    }
    closeSync(this.fd);
  }
}

function byteAt(fd: number, offset: number): number {
  const b = Buffer.alloc(1);
  return readSync(fd, b, 0, 1, offset) === 1 ? (b[0] as number) : 0x0a;
}
