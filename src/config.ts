import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ValidationError } from './core/errors.js';
import { zodIssues } from './core/job-spec.js';
import { EMPTY_INTAKE_CONFIG, parseIntakeConfig, type IntakeConfig } from './core/intake-config.js';
import { DEFAULT_SLO_THRESHOLDS, type SloThresholds } from './core/slo-report.js';

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
  /**
   * API tokens: "required" (every call but liveness, readiness and the OpenAPI document needs a bearer token)
   * or "off" (every caller may do everything), which is refused unless `host` is a loopback address.
   * @default "off" on a loopback host, "required" on any other
   */
  auth: z.enum(['required', 'off']).optional(),
  /** 0 picks a free port. @default 7420 */
  port: z.int().min(0).max(65535).default(DEFAULT_PORT),
  /** Simulated GPUs for machines without one (0: discover real NVIDIA GPUs). @default 0 */
  fakeGpus: z.int().min(0).max(64).default(0),
  /** "normal": survives a crash of gpuq; "strict": also survives a power loss (fsync on every commit). SQLite only: PostgreSQL's own settings decide there. @default "normal" */
  durability: z.enum(['normal', 'strict']).default('normal'),
  /** Finished jobs are purged this long after they end. @default 7 */
  retentionDays: z.number().gt(0).max(3650).default(7),
  /** Audit log entries are purged this long after they were recorded. @default 365 */
  auditRetentionDays: z.number().gt(0).max(36500).default(365),
  /**
   * Events of the event feed (GET /v1/events) are kept this long: a client that reconnects with an older
   * Last-Event-ID is told to resync. @default 24
   */
  eventRetentionHours: z.number().gt(0).max(87600).default(24),
  /** A running attempt whose lease is not renewed for this long is reclaimed. @default 30 */
  leaseSeconds: z.number().min(1).max(3600).default(30),
  /**
   * Cluster mode: how long the leader's lease lasts without renewal; a dead leader is replaced within
   * about this plus leaderRenewSeconds. @default 6
   */
  leaderLeaseSeconds: z.number().min(1).max(300).default(6),
  /** How often the leader renews its lease and the other servers try to claim it. @default 2 */
  leaderRenewSeconds: z.number().gt(0).max(100).default(2),
  /** How often the agent renews leases and reports. @default 2 */
  heartbeatSeconds: z.number().gt(0).max(600).default(2),
  /** How often device telemetry is sampled. @default 5 */
  telemetrySeconds: z.number().gt(0).max(3600).default(5),
  /**
   * GPU idle detection (core/gpu-usage.ts): a running attempt whose GPUs all stay under this utilization
   * (percent) for idleMinutes is flagged idle (a job.idle event, the gpuq_attempts_idle gauge). Every agent
   * applies the policy of the server it registers with. @default 5
   */
  idleUtilizationPct: z.number().min(0).max(100).default(5),
  /** How long an attempt's GPUs must stay under idleUtilizationPct to be flagged idle. @default 10 */
  idleMinutes: z.number().gt(0).max(10_080).default(10),
  /** Cancel the job of an attempt flagged idle, with a reason saying why (gpuq_idle_cancels_total). @default false */
  idleCancel: z.boolean().default(false),
  /** Most GPUs the replicas of all warm worker pools hold together (core/pool-scaling.ts); unset: no cap. */
  poolGpuLimit: z.int().min(0).max(1_000_000).optional(),
  /**
   * A node whose available host memory is below this percent of its total is under memory pressure: the
   * leader evicts pool replicas there, one at a time, in the pools' eviction order (core/pool-eviction.ts).
   * 0: never. @default 5
   */
  memoryPressurePct: z.number().min(0).max(100).default(5),
  /**
   * Where pipeline runs keep their files (ADR 0018): <pipelinesDir>/<pipeline>/runs/<run>. In a cluster, a directory
   * every server and every agent's node sees at the same path (a shared mount). @default <dataDir>/pipelines
   */
  pipelinesDir: z.string().min(1).optional(),
  /** Broker intake and result publishing (ADR 0017): a YAML or JSON file of sources and sinks (core/intake-config.ts). @default undefined (none) */
  intakeConfig: z.string().min(1).optional(),
  /** Per-attempt log size cap. @default 64 */
  logCapMb: z.number().gt(0).max(1_000_000).default(64),
  /** Time between SIGTERM and SIGKILL when a job is cancelled or times out. @default 10 */
  killGraceSeconds: z.number().min(0).max(3600).default(10),
  /** SLO report objective (GET /v1/report, core/slo-report.ts): job success rate at least this, in percent. @default 98 */
  sloSuccessPct: z.number().min(0).max(100).default(DEFAULT_SLO_THRESHOLDS.successPct),
  /** SLO report objective: queue wait p95 (submit → first start) at most this many seconds. @default 300 */
  sloQueueWaitP95Seconds: z.number().min(0).max(31_536_000).default(DEFAULT_SLO_THRESHOLDS.queueWaitP95Seconds),
  /** SLO report objective: GPU utilization over all GPU time (capacity × range) at least this, in percent. @default 70 */
  sloGpuUtilizationMinPct: z.number().min(0).max(100).default(DEFAULT_SLO_THRESHOLDS.gpuUtilizationMinPct),
  /** SLO report objective: GPU utilization over all GPU time at most this, in percent. @default 90 */
  sloGpuUtilizationMaxPct: z.number().min(0).max(100).default(DEFAULT_SLO_THRESHOLDS.gpuUtilizationMaxPct),
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
  /**
   * Run a local agent, so this machine's GPUs run jobs. false (`gpuq up --no-agent`): a control-plane
   * server only, for the replicas of a cluster whose jobs run on `gpuq agent` hosts. @default true
   */
  agent: z.boolean().default(true),
});

export type ServerConfig = Readonly<Omit<z.output<typeof serverConfigSchema>, 'auth' | 'pipelinesDir'> & { auth: 'required' | 'off'; pipelinesDir: string; intake: IntakeConfig }>;
export type ServerOptions = z.input<typeof serverConfigSchema>;

const ENV_KEYS: Record<string, keyof ServerOptions> = {
  GPUQ_DATA_DIR: 'dataDir',
  GPUQ_DATABASE_URL: 'databaseUrl',
  GPUQ_HOST: 'host',
  GPUQ_AUTH: 'auth',
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
  if (r.data.sloGpuUtilizationMinPct > r.data.sloGpuUtilizationMaxPct) {
    throw new ValidationError([{ path: 'sloGpuUtilizationMinPct', message: `must be at most sloGpuUtilizationMaxPct (${r.data.sloGpuUtilizationMaxPct})` }]);
  }
  if (r.data.leaderRenewSeconds >= r.data.leaderLeaseSeconds) {
    throw new ValidationError([{ path: 'leaderRenewSeconds', message: `must be less than leaderLeaseSeconds (${r.data.leaderLeaseSeconds}): the leader renews its lease before it runs out` }]);
  }
  const intake = r.data.intakeConfig === undefined ? EMPTY_INTAKE_CONFIG : loadIntakeConfig(r.data.intakeConfig);
  const dataDir = path.resolve(r.data.dataDir);
  return Object.freeze({ ...r.data, auth: authMode(r.data.host, r.data.auth), dataDir, pipelinesDir: path.resolve(r.data.pipelinesDir ?? path.join(dataDir, 'pipelines')), intake });
}

/**
 * Reads and validates the intake config file (`gpuq up --intake-config FILE`): YAML (`.yaml`, `.yml`) or JSON.
 * Throws ValidationError whose issues name the file's field (`intakeConfig: sources.0.stream`), so gpuq refuses to start.
 */
export function loadIntakeConfig(file: string): IntakeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ValidationError([{ path: 'intakeConfig', message: `cannot read ${file}: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ValidationError([{ path: 'intakeConfig', message: `${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${err instanceof Error ? err.message : String(err)}` }]);
  }
  const r = parseIntakeConfig(value ?? {});
  if (!r.ok) throw new ValidationError(r.issues.map((i) => ({ path: `intakeConfig: ${i.path}`, message: `${i.message} (in ${file})` })));
  return r.config;
}

/** The SLO report's objectives, from the server options. */
export function sloThresholds(config: ServerConfig): SloThresholds {
  return Object.freeze({
    successPct: config.sloSuccessPct,
    queueWaitP95Seconds: config.sloQueueWaitP95Seconds,
    gpuUtilizationMinPct: config.sloGpuUtilizationMinPct,
    gpuUtilizationMaxPct: config.sloGpuUtilizationMaxPct,
  });
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Tokens are required off loopback: anyone on the network could otherwise drain the cluster or run commands on it. */
function authMode(host: string, asked: 'required' | 'off' | undefined): 'required' | 'off' {
  if (asked === 'off' && !isLoopbackHost(host)) {
    throw new ValidationError([{ path: 'auth', message: `"off" is refused when listening on ${host}: anyone who can reach it could run commands on this machine. Use --auth required (create a token with \`gpuq token create --role admin --name NAME --data-dir DIR\`), or listen on 127.0.0.1` }]);
  }
  return asked ?? (isLoopbackHost(host) ? 'off' : 'required');
}

/** The API token the CLI sends: --token, then GPUQ_TOKEN; none when neither is set. */
export function clientToken(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return explicit ?? (env.GPUQ_TOKEN || undefined);
}

/** Where the CLI finds the server: --url, then GPUQ_URL, then the local default. */
export function serverUrl(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return explicit ?? env.GPUQ_URL ?? `http://127.0.0.1:${env.GPUQ_PORT ?? DEFAULT_PORT}`;
}

// ── gpuq agent: a remote agent of a cluster ──────────────────────────────

const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** HOST:PORT, the host an IPv4 address, a name, or an IPv6 address in brackets. */
const listenAddress = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$/, 'must be HOST:PORT, e.g. 0.0.0.0:7421 (port 0: any free one)')
  .transform((v) => {
    const i = v.lastIndexOf(':');
    return { host: v.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(v.slice(i + 1)) };
  })
  .refine((a) => a.port <= 65535, 'the port must be at most 65535');

const agentConfigSchema = z.strictObject({
  /**
   * The control plane: one server's URL, or several (the replicas of a cluster), comma-separated; the agent
   * moves to the next when one cannot be reached.
   */
  servers: z.array(z.url({ protocol: /^https?$/, message: 'must be an http(s) URL such as http://gpuq.example:7420' })).min(1, 'give the control plane\'s URL with --server (or GPUQ_SERVER)'),
  /** API token with the `agent` role (gpuq token create --role agent). @default $GPUQ_TOKEN; none for a server with auth off */
  token: z.string().min(1).optional(),
  /** This node's name, unique in the cluster. @default os.hostname() */
  nodeName: z.string().regex(NODE_NAME, 'must be 1-63 letters, digits and . _ -, starting with a letter or digit').default(os.hostname()),
  /** Node labels jobs can select (`nodeSelector`); gpuq adds hostname, gpu-model and gpu-simulated. @default {} */
  labels: z.record(z.string().min(1).max(63), z.string().max(253)).default({}),
  /** Simulated GPUs for machines without one (0: discover real NVIDIA GPUs). @default 0 */
  fakeGpus: z.int().min(0).max(64).default(0),
  /** Where attempt logs and artifacts live. @default "./.gpuq-agent" */
  dataDir: z.string().min(1).default('./.gpuq-agent'),
  /** Most exec jobs this node runs at once. @default max(32, 8 × CPU cores) + GPUs (see defaultMaxRunning) */
  maxRunning: z.int().min(1).max(100_000).optional(),
  cpus: z.number().min(0).default(os.cpus().length),
  memoryMb: z.int().min(0).default(Math.floor(os.totalmem() / 1048576)),
  /**
   * Where the agent's log server listens; the control plane reads this node's job logs through it, so in a
   * cluster it must be reachable from the servers (e.g. 0.0.0.0:7421). @default "127.0.0.1:0" (any free port, this machine only)
   */
  listen: listenAddress.default({ host: '127.0.0.1', port: 0 }),
  /** The host name servers reach the log server by. @default the listen host, or this machine's hostname when listening on all addresses */
  advertiseHost: z.string().regex(/^[A-Za-z0-9._:-]+$/, 'must be a host name or address').optional(),
  /**
   * How long the agent keeps its jobs running while it cannot reach the control plane; past it they are
   * killed (their leases are gone by then, and the jobs run elsewhere). @default 60
   */
  graceSeconds: z.number().min(0).max(86_400).default(60),
  /** How often the agent renews its attempts' leases; keep it well under the server's --lease-seconds. @default 2 */
  heartbeatSeconds: z.number().gt(0).max(600).default(2),
  /** How often device telemetry is sampled. @default 5 */
  telemetrySeconds: z.number().gt(0).max(3600).default(5),
  /** Per-attempt log size cap. @default 64 */
  logCapMb: z.number().gt(0).max(1_000_000).default(64),
  /** Time between SIGTERM and SIGKILL when a job is cancelled or times out. @default 10 */
  killGraceSeconds: z.number().min(0).max(3600).default(10),
  /** @default "info" */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type AgentConfig = Readonly<z.output<typeof agentConfigSchema>>;
/** As the CLI gives them: `servers` may be one comma-separated string, labels KEY=VALUE strings. */
export type AgentOptions = Omit<z.input<typeof agentConfigSchema>, 'servers' | 'labels' | 'listen'> & { servers?: string | string[]; labels?: Record<string, string>; listen?: string };

const AGENT_ENV_KEYS: Record<string, keyof AgentOptions> = {
  GPUQ_SERVER: 'servers',
  GPUQ_TOKEN: 'token',
  GPUQ_NODE_NAME: 'nodeName',
  GPUQ_FAKE_GPUS: 'fakeGpus',
  GPUQ_AGENT_DATA_DIR: 'dataDir',
  GPUQ_AGENT_LISTEN: 'listen',
  GPUQ_LOG_LEVEL: 'logLevel',
};

/** Builds `gpuq agent`'s config: explicit options win over GPUQ_* variables, which win over defaults. */
export function loadAgentConfig(options: AgentOptions, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(AGENT_ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = key === 'fakeGpus' ? Number(v) : v;
  }
  const merged: Record<string, unknown> = { ...fromEnv, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
  const servers = merged.servers;
  merged.servers = (Array.isArray(servers) ? servers : typeof servers === 'string' ? [servers] : [])
    .flatMap((s: unknown) => String(s).split(','))
    .map((s: string) => s.trim().replace(/\/+$/, ''))
    .filter((s: string) => s !== '');
  const r = agentConfigSchema.safeParse(merged);
  if (!r.success) throw new ValidationError(zodIssues(r.error));
  return Object.freeze({ ...r.data, dataDir: path.resolve(r.data.dataDir) });
}

// ── inside a job: what gpuq tells an attempt's process (agent/attempt-env.ts sets these) ──

export interface AttemptContext {
  /** Where the job may leave its JSON result; unset outside a gpuq job. */
  resultFile: string | undefined;
  /** Where the job may leave files kept with the attempt. */
  artifactsDir: string | undefined;
  /** The GPUs the job was given (CUDA_VISIBLE_DEVICES); empty: none. */
  visibleGpus: string[];
}

export function attemptContext(env: NodeJS.ProcessEnv = process.env): AttemptContext {
  return {
    resultFile: env.GPUQ_RESULT_FILE || undefined,
    artifactsDir: env.GPUQ_ARTIFACTS_DIR || undefined,
    visibleGpus: (env.CUDA_VISIBLE_DEVICES ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
  };
}
