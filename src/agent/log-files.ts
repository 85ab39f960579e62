import { open, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Reading attempt logs (attempt-log.ts writes them): what the API serves for
 * attempts run by the server's own agent, and what a remote agent's log
 * server (log-server.ts) serves to the control plane for its own. A log that
 * does not exist (yet) reads as empty: a silent job never opens one.
 */

/** Most bytes one read returns; callers loop for more. */
const CHUNK_BYTES = 1024 * 1024;
/** `tail` looks at most at this much of the end of a log. */
const TAIL_WINDOW_BYTES = 8 * 1024 * 1024;

/** Where an agent keeps an attempt's log: derived from ids alone, so its log server needs no index and survives restarts. */
export function attemptLogPath(dataDir: string, jobId: number, attemptNumber: number): string {
  return path.join(dataDir, 'jobs', String(jobId), `attempt-${attemptNumber}.log`);
}

export async function logSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** Up to 1 MiB from `offset`; empty at the end, or when there is no log. */
export async function readLogFrom(path: string, offset: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(Math.min(size - offset, CHUNK_BYTES));
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The whole log, or its last `tail` lines (looking at most at its last 8 MiB); with where the read ended, to follow on from. */
export async function readLog(path: string, tail: number | undefined): Promise<{ text: string; end: number }> {
  const size = await logSize(path);
  if (size === null) return { text: '', end: 0 };
  const start = tail === undefined ? 0 : Math.max(0, size - TAIL_WINDOW_BYTES);
  const chunks: Buffer[] = [];
  let offset = start;
  for (;;) {
    const c = await readLogFrom(path, offset);
    if (c.length === 0) break;
    chunks.push(c);
    offset += c.length;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (tail === undefined) return { text, end: offset };
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return { text: lines.slice(Math.max(0, lines.length - tail)).map((l) => `${l}\n`).join(''), end: offset };
}
