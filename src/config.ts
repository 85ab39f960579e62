import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ValidationError } from './core/errors.js';
import { zodIssues } from './core/job-spec.js';

/**
 * The one place that reads the environment. Options come from the CLI flags
 * first, then GPUQ_* variables, then defaults; the result is validated once and
 * frozen, and passed explicitly to whatever needs it.
 */

export const DEFAULT_PORT = 7420;

/** A URL node-postgres can connect with: postgres:// or postgresql://, parseable as a URL. */
function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

const serverConfigSchema = z.strictObject({
  /** Where the SQLite file (unless databaseUrl is set), logs and artifacts live. @default "./.gpuq" */
  dataDir: z.string().min(1).default('./.gpuq'),
  /**
   * PostgreSQL to keep the store in instead of the embedded SQLite file: postgres://user:password@host:5432/database.
   * @default undefined (SQLite in dataDir)
   */
  databaseUrl: z
    .string()
    .refine(isPostgresUrl, { message: 'must be a PostgreSQL URL such as postgres://gpuq@db.example:5432/gpuq (check --database-url or GPUQ_DATABASE_URL)' })
    .optional(),
  /** @default "127.0.0.1" */
  host: z.string().min(1).default('127.0.0.1'),
  /** 0 picks a free port. @default 7420 */
  port: z.int().min(0).max(65535).default(DEFAULT_PORT),
  /** Simulated GPUs for machines without one (0: discover real NVIDIA GPUs). @default 0 */
  fakeGpus: z.int().min(0).max(64).default(0),
  /** "normal": survives a crash of gpuq; "strict": also survives a power loss (fsync on every commit). SQLite only: PostgreSQL's own settings decide there. @default "normal" */
  durability: z.enum(['normal', 'strict']).default('normal'),
  /** Finished jobs are purged this long after they end. @default 7 */
  retentionDays: z.number().gt(0).max(3650).default(7),
  /** A running attempt whose lease is not renewed for this long is reclaimed. @default 30 */
  leaseSeconds: z.number().min(1).max(3600).default(30),
  /** How often the agent renews leases and reports. @default 2 */
  heartbeatSeconds: z.number().gt(0).max(600).default(2),
  /** How often device telemetry is sampled. @default 5 */
  telemetrySeconds: z.number().gt(0).max(3600).default(5),
  /** Per-attempt log size cap. @default 64 */
  logCapMb: z.number().gt(0).max(1_000_000).default(64),
  /** Time between SIGTERM and SIGKILL when a job is cancelled or times out. @default 10 */
  killGraceSeconds: z.number().min(0).max(3600).default(10),
  /** This machine's node name. @default os.hostname() */
  nodeName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/).default(os.hostname()),
  /** CPU cores and memory the local node offers to jobs that reserve them. */
  cpus: z.number().min(0).default(os.cpus().length),
  memoryMb: z.int().min(0).default(Math.floor(os.totalmem() / 1048576)),
  /**
   * Most exec jobs this node runs at once (a noop takes no slot); the rest wait queued.
   * @default max(32, 8 × CPU cores) + GPUs (see defaultMaxRunning)
   */
  maxRunning: z.int().min(1).max(100_000).optional(),
  /** Largest accepted request body. @default 16 MiB */
  bodyLimitBytes: z.int().min(1024).default(16 * 1024 * 1024),
  /** Log level for the server's structured log (stderr). @default "info" */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ServerConfig = Readonly<z.output<typeof serverConfigSchema>>;
export type ServerOptions = z.input<typeof serverConfigSchema>;

const ENV_KEYS: Record<string, keyof ServerOptions> = {
  GPUQ_DATA_DIR: 'dataDir',
  GPUQ_DATABASE_URL: 'databaseUrl',
  GPUQ_HOST: 'host',
  GPUQ_PORT: 'port',
  GPUQ_FAKE_GPUS: 'fakeGpus',
  GPUQ_DURABILITY: 'durability',
  GPUQ_LOG_LEVEL: 'logLevel',
};
const NUMERIC = new Set<keyof ServerOptions>(['port', 'fakeGpus']);

/**
 * The default of `maxRunning`: max(32, 8 × CPU cores) + one per GPU.
 *
 * Why a limit: every live job process costs its node memory, file descriptors
 * and a share of each fork and reap, and a node that takes every queued exec
 * job at once leaves none for other nodes; a limit keeps the rest queued,
 * where the scheduler can still place them anywhere.
 * Why this many: a short job spends most of its life being forked, exec'd,
 * reaped and reported, and the slot stays taken until the scheduler hears of
 * the end, so each core needs several slots to stay busy. Measured on 2 cores
 * with 2,000 /bin/true jobs through the server: 8 slots ran ~20% slower than
 * 32 to 128, which were within noise of each other (and of no limit).
 * Why + GPUs: a GPU job takes a slot too, and GPU jobs should not wait for a
 * slot while a GPU is free.
 */
export function defaultMaxRunning(gpus: number, cpuCores: number = os.availableParallelism()): number {
  return Math.max(32, 8 * cpuCores) + gpus;
}

/** Builds the server config: explicit options win over GPUQ_* variables, which win over defaults. */
export function loadServerConfig(options: ServerOptions, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = NUMERIC.has(key) ? Number(v) : v;
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const r = serverConfigSchema.safeParse({ ...fromEnv, ...defined });
  if (!r.success) throw new ValidationError(zodIssues(r.error));
  return Object.freeze({ ...r.data, dataDir: path.resolve(r.data.dataDir) });
}

/** Where the CLI finds the server: --url, then GPUQ_URL, then the local default. */
export function serverUrl(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.GPUQ_URL ?? `http://127.0.0.1:${env.GPUQ_PORT ?? DEFAULT_PORT}`;
}
