import { StringDecoder } from 'node:string_decoder';

/**
 * What a CUDA out-of-memory failure prints, in PyTorch, TensorFlow, JAX, CuPy and the CUDA runtime
 * ("RuntimeError: CUDA out of memory. Tried to allocate …", "torch.OutOfMemoryError: …",
 * "CUDA error: out of memory", "cudaErrorMemoryAllocation").
 */
export const OOM_PATTERN = /CUDA out of memory|CUDA error: out of memory|cudaErrorMemoryAllocation|torch\.(cuda\.)?OutOfMemoryError|OutOfMemoryError/i;

/** A line that is cut for a report is kept to this many characters. */
const MAX_REPORTED_CHARS = 1000;
/** Of a line without its end yet, this many trailing characters are kept for the next chunk. */
const MAX_TAIL_CHARS = 4096;

/**
 * Scans a stream (the worker's stderr) line by line for OOM messages. Chunks may split lines and UTF-8
 * characters; a line is scanned once it is complete (or at the end). The common case, a chunk with no
 * match at all, costs one decode and one regex test.
 */
export class OomLineScanner {
  private readonly decoder = new StringDecoder('utf8');
  private tail = '';

  constructor(private readonly onOom: (line: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.tail + this.decoder.write(chunk);
    const last = text.lastIndexOf('\n');
    if (last < 0) {
      this.tail = text.length > MAX_TAIL_CHARS ? text.slice(-MAX_TAIL_CHARS) : text;
      return;
    }
    const rest = text.slice(last + 1);
    this.tail = rest.length > MAX_TAIL_CHARS ? rest.slice(-MAX_TAIL_CHARS) : rest;
    this.scan(text.slice(0, last));
  }

  end(): void {
    const text = this.tail + this.decoder.end();
    this.tail = '';
    this.scan(text);
  }

  private scan(text: string): void {
    if (!OOM_PATTERN.test(text)) return;
    for (const line of text.split('\n')) {
      if (!OOM_PATTERN.test(line)) continue;
      const t = line.trim();
      this.onOom(t.length > MAX_REPORTED_CHARS ? `${t.slice(0, MAX_REPORTED_CHARS)}…` : t);
    }
  }
}
