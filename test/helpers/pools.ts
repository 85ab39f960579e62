import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTEMPT_MARKER } from '../../src/agent/process-tree.js';

/** A pool worker speaking the pool protocol (docs/pool-protocol.md); its ops are listed at its top. */
export const MODEL_WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/pools/model-worker.mjs');

/** The replica host's script, in a host's command line (the worker's command follows it there, after "--"). */
const REPLICA_HOST = `pools${path.sep}host-main.js`;

export interface MarkedProcess {
  pid: number;
  /** The job (replica) whose attempt started it, from its GPUQ_JOB_ID. */
  jobId: number;
  /** The pool worker itself, rather than the replica host around it. */
  worker: boolean;
}

/**
 * Processes on this machine that carry an attempt marker (GPUQ_ATTEMPT_KEY, src/agent/process-tree.ts) and belong
 * to one of `jobIds`: the replica hosts and the workers they started, found the way an agent finds them.
 */
export function markedProcesses(jobIds: number[]): MarkedProcess[] {
  const want = new Set(jobIds);
  const found: MarkedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let environ: string;
    let cmdline: string;
    try {
      environ = readFileSync(`/proc/${entry}/environ`, 'utf8');
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
    } catch {
      continue; // gone meanwhile
    }
    const vars = environ.split('\0');
    if (!vars.some((v) => v.startsWith(`${ATTEMPT_MARKER}=`))) continue;
    const jobId = Number(vars.find((v) => v.startsWith('GPUQ_JOB_ID='))?.slice('GPUQ_JOB_ID='.length));
    if (want.has(jobId)) found.push({ pid: Number(entry), jobId, worker: !cmdline.includes(REPLICA_HOST) });
  }
  return found;
}

/** The value of one sample in Prometheus text (0 when absent): `name{a="x",b="y"}` with the labels in any order. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w)) && have.length === want.length) {
      total += Number(m[3]);
      seen = true;
    }
  }
  return seen ? total : 0;
}

export async function metricsOf(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}
