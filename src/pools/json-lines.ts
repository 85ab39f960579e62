/**
 * Framing of the worker's stdout: one JSON value per line, "\n" ending each line (a "\r" before it is
 * whitespace to JSON.parse). Chunks may end anywhere, even inside a UTF-8 character: the decoder splits at
 * the last newline byte of each chunk (0x0A never occurs inside a multi-byte UTF-8 sequence) and keeps the
 * rest for the next chunk. Blank lines are skipped.
 *
 * Each chunk is decoded to text once and cut at newlines, so a chunk of many short lines costs one
 * decode and one JSON.parse per line. After the first error the decoder ignores everything.
 */
export class JsonLineDecoder {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private failed = false;

  constructor(
    private readonly maxLineBytes: number,
    /** A parsed line, with its length in characters (at most its length in bytes). */
    private readonly onValue: (value: unknown, chars: number) => void,
    private readonly onError: (detail: string) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    const last = chunk.lastIndexOf(10);
    if (last < 0) {
      this.keep(chunk);
      return;
    }
    let head = chunk.subarray(0, last);
    if (this.carryBytes > 0) {
      this.carry.push(head);
      head = Buffer.concat(this.carry, this.carryBytes + head.length);
      this.carry = [];
      this.carryBytes = 0;
    }
    this.lines(head.toString('utf8'));
    if (last + 1 < chunk.length) this.keep(chunk.subarray(last + 1));
  }

  /** The stream ended: a last line without its newline still counts. */
  end(): void {
    if (this.failed || this.carryBytes === 0) return;
    const rest = Buffer.concat(this.carry, this.carryBytes);
    this.carry = [];
    this.carryBytes = 0;
    this.lines(rest.toString('utf8'));
  }

  private keep(part: Buffer): void {
    this.carry.push(part);
    this.carryBytes += part.length;
    if (this.carryBytes > this.maxLineBytes) this.fail(`a line longer than ${this.maxLineBytes} bytes (the most a line may hold)`);
  }

  private lines(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const end = nl < 0 ? text.length : nl;
      if (end > start && !this.line(text.slice(start, end))) return;
      if (nl < 0) return;
      start = nl + 1;
    }
  }

  private line(line: string): boolean {
    // UTF-16 length never exceeds UTF-8 length; count bytes only when the characters alone cannot settle it.
    if (line.length > this.maxLineBytes || (line.length > this.maxLineBytes / 3 && Buffer.byteLength(line) > this.maxLineBytes)) {
      this.fail(`a line longer than ${this.maxLineBytes} bytes (the most a line may hold)`);
      return false;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (line.trim() === '') return true;
      this.fail(`not a JSON line: ${preview(line)}`);
      return false;
    }
    this.onValue(value, line.length);
    return !this.failed;
  }

  private fail(detail: string): void {
    if (this.failed) return;
    this.failed = true;
    this.carry = [];
    this.carryBytes = 0;
    this.onError(detail);
  }

  /** Stops decoding (the caller gave up on the stream). */
  stop(): void {
    this.failed = true;
    this.carry = [];
    this.carryBytes = 0;
  }
}

/** The start of a line, for a message: at most 200 characters, control characters escaped. */
export function preview(line: string): string {
  const cut = line.length > 200 ? `${line.slice(0, 200)}…` : line;
  return JSON.stringify(cut);
}
