import { readFileSync } from 'node:fs';

/**
 * How many processes the Linux out-of-memory killer has killed since boot (`oom_kill` in /proc/vmstat,
 * Linux 4.13 and later); null where that is not known (another OS, an older kernel, no /proc). The replica
 * host reads it when its worker starts and again when the worker dies of a SIGKILL it did not send: a count
 * that grew is the evidence that the kernel, not someone else, killed it for memory.
 */
export function kernelOomKills(vmstatPath = '/proc/vmstat'): number | null {
  let text: string;
  try {
    text = readFileSync(vmstatPath, 'utf8');
  } catch {
    return null;
  }
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}
