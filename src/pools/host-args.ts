import { parseArgs } from 'node:util';
import { POOL_LIMITS } from '../core/pool-limits.js';

/**
 * The replica host's command line and environment (ADR 0016). The control plane writes the command of each
 * replica job:
 *   gpuq-pool-host --pool NAME --concurrency N --task-timeout-ms T --start-timeout-ms S --grace-ms G
 *                  (--kill-on-oom | --no-kill-on-oom) -- WORKER [ARG...]
 * and the agent runs it as `node <dist>/pools/host-main.js ...`, with GPUQ_API_URL and GPUQ_POOL_CREDENTIAL
 * added to the attempt's environment (GPUQ_JOB_ID and GPUQ_ATTEMPT_ID are there for every attempt).
 */

export const HOST_USAGE =
  'usage: gpuq-pool-host --pool NAME --concurrency N --task-timeout-ms MS --start-timeout-ms MS --grace-ms MS [--kill-on-oom | --no-kill-on-oom] -- WORKER [ARG...]\n' +
  'environment: GPUQ_API_URL (control-plane base URLs, comma-separated), GPUQ_POOL_CREDENTIAL, GPUQ_JOB_ID, GPUQ_ATTEMPT_ID';

export interface HostConfig {
  pool: string;
  concurrency: number;
  taskTimeoutMs: number;
  startTimeoutMs: number;
  graceMs: number;
  killOnOom: boolean;
  workerArgv: string[];
  urls: string[];
  credential: string;
  jobId: number;
  attemptId: number;
}

/** Parses the arguments (after the script's path) and the environment; a message for the user when they are wrong. */
export function parseHostArgs(args: readonly string[], env: Readonly<Record<string, string | undefined>>): HostConfig | { error: string } {
  // Everything after the first "--" is the worker's, untouched: its own flags are no business of the host's parser.
  const sep = args.indexOf('--');
  if (sep < 0 || sep === args.length - 1) return { error: 'no worker command: put it after "--"' };
  const workerArgv = args.slice(sep + 1);
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: args.slice(0, sep),
      strict: true,
      allowPositionals: false,
      options: {
        pool: { type: 'string' },
        concurrency: { type: 'string' },
        'task-timeout-ms': { type: 'string' },
        'start-timeout-ms': { type: 'string' },
        'grace-ms': { type: 'string' },
        'kill-on-oom': { type: 'boolean' },
        'no-kill-on-oom': { type: 'boolean' },
      },
    }));
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  const problems: string[] = [];
  const int = (name: string, min: number, max: number): number => {
    const raw = values[name];
    if (typeof raw !== 'string') {
      problems.push(`--${name} is required`);
      return 0;
    }
    const n = Number(raw);
    if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) problems.push(`--${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(raw)}`);
    return n;
  };
  const pool = typeof values.pool === 'string' && values.pool.length > 0 ? values.pool : (problems.push('--pool is required'), '');
  const concurrency = int('concurrency', 1, POOL_LIMITS.maxConcurrency);
  const day = 86_400_000;
  const taskTimeoutMs = int('task-timeout-ms', 1, day);
  const startTimeoutMs = int('start-timeout-ms', 1, day);
  const graceMs = int('grace-ms', 0, 3_600_000);
  if (values['kill-on-oom'] === true && values['no-kill-on-oom'] === true) problems.push('give one of --kill-on-oom and --no-kill-on-oom');

  const urls = (env.GPUQ_API_URL ?? '')
    .split(',')
    .map((u) => u.trim().replace(/\/+$/, ''))
    .filter((u) => u.length > 0);
  if (urls.length === 0) problems.push('GPUQ_API_URL is not set: the control plane\'s base URLs, comma-separated');
  for (const u of urls) if (!/^https?:\/\/[^/]/.test(u)) problems.push(`GPUQ_API_URL: ${JSON.stringify(u)} is not an http(s) URL`);
  const credential = env.GPUQ_POOL_CREDENTIAL ?? '';
  if (credential === '') problems.push('GPUQ_POOL_CREDENTIAL is not set');
  const id = (name: 'GPUQ_JOB_ID' | 'GPUQ_ATTEMPT_ID'): number => {
    const raw = env[name] ?? '';
    if (!/^[1-9][0-9]{0,14}$/.test(raw)) problems.push(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const jobId = id('GPUQ_JOB_ID');
  const attemptId = id('GPUQ_ATTEMPT_ID');
  if (problems.length > 0) return { error: problems.join('; ') };
  return { pool, concurrency, taskTimeoutMs, startTimeoutMs, graceMs, killOnOom: values['no-kill-on-oom'] !== true, workerArgv, urls, credential, jobId, attemptId };
}
