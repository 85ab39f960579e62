import { z } from 'zod';
import { MAX_REPORTS_PER_REQUEST as MAX_REPORTS } from '../agent/agent-link.js';
import { artifactNameProblem, isJsonText, OUTPUT_LIMITS } from '../core/job-output.js';

/**
 * Request schemas of the remote agents' endpoints (routes/agents.ts), in the
 * style of request-schemas.ts. What an agent sends is checked as strictly as
 * what a user sends: a bad report must be refused with a 400, not reach the store.
 */

/** Node names: as `gpuq up --node-name` takes them (config.ts). */
const nodeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a node name: 1-63 letters, digits and . _ -, starting with a letter or digit');
const attemptId = z.int().positive();
const time = z.number().nonnegative();

export const nodeParams = z.strictObject({ nodeId: nodeName });

const device = z.strictObject({
  index: z.int().min(0).max(1023),
  uuid: z.string().max(200),
  name: z.string().max(200),
  simulated: z.boolean(),
  memoryTotalMb: z.number().nonnegative(),
  pciBusId: z.string().max(64).nullable(),
  healthy: z.boolean(),
});

/** A registration: the node as the agent describes it (the server sets its heartbeat time and state), and its log server. */
export const registerBody = z
  .strictObject({
    node: z.strictObject({
      id: nodeName,
      hostname: z.string().min(1).max(253),
      labels: z.record(z.string().max(63), z.string().max(253)),
      cpus: z.number().nonnegative(),
      memoryMb: z.int().nonnegative(),
      maxRunning: z.int().min(1).max(100_000),
      devices: z.array(device).max(1024).refine((ds) => new Set(ds.map((d) => d.index)).size === ds.length, 'device indices must be unique'),
      /** Changes each time the agent process starts. */
      incarnation: z.string().min(1).max(200),
    }),
    /** Base URL of the agent's log server (http://host:port), where any server proxies its attempts' logs. */
    logUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2048).optional(),
    /** The bearer secret the log server accepts from the control plane; random per agent run. */
    logSecret: z.string().min(16).max(256).optional(),
  })
  .refine((b) => (b.logUrl === undefined) === (b.logSecret === undefined), { message: 'give logUrl and logSecret together, or neither', path: ['logSecret'] });

/** The long-poll for work: the session from the registration, the last sequence number the agent has, how long to wait. */
export const workQuery = z.strictObject({
  session: z.string().regex(/^[0-9a-f]{24}$/, 'must be the sessionId the registration answered'),
  ack: z.coerce.number().int().min(0).optional(),
  waitMs: z.coerce.number().int().min(0).max(60_000).default(25_000),
});

const telemetry = z.strictObject({
  nodeId: nodeName,
  index: z.int().min(0).max(1023),
  at: time,
  utilizationPct: z.number().nullable(),
  memoryUsedMb: z.number().nullable(),
  temperatureC: z.number().nullable(),
  powerW: z.number().nullable(),
  eccCorrected: z.number().nullable(),
  eccUncorrected: z.number().nullable(),
});

export const leaveBody = z.strictObject({
  incarnation: z.string().min(1).max(200),
});

/** One GPU's figures (core/gpu-usage.ts GpuUsage). */
const gpuUsageEntry = z.strictObject({
  device: z.int().min(0).max(1023),
  gpuSeconds: z.number().nonnegative(),
  meanUtilizationPct: z.number().min(0).max(100).nullable(),
  peakUtilizationPct: z.number().min(0).max(100).nullable(),
  peakMemoryMb: z.number().nonnegative().nullable(),
  idleSeconds: z.number().nonnegative(),
  samples: z.int().nonnegative(),
});

/** An attempt's GPUs' figures: one entry per device, each device once. */
const gpuUsage = z
  .array(gpuUsageEntry)
  .max(1024)
  .refine((us) => new Set(us.map((u) => u.device)).size === us.length, 'each device at most once');

/** A running attempt's live figures and idle flag (agent-link.ts AttemptUsageReport). */
const usageReport = z.strictObject({ attemptId, idleSince: time.nullable(), gpuUsage });

/** The node's host memory (agent-link.ts): MemTotal and MemAvailable in MiB. */
const hostMemory = z
  .strictObject({ totalMb: z.int().min(1).max(1_000_000_000), availableMb: z.int().min(0).max(1_000_000_000) })
  .refine((m) => m.availableMb <= m.totalMb, { path: ['availableMb'], message: 'must be at most totalMb' });

export const heartbeatBody = z.strictObject({
  runningAttemptIds: z.array(attemptId).max(100_000),
  telemetry: z.array(telemetry).max(10_000).default([]),
  usage: z.array(usageReport).max(100_000).default([]),
  hostMemory: hostMemory.optional(),
});


const startReport = z.strictObject({
  attemptId,
  pid: z.int().positive().nullable(),
  logPath: z.string().max(4096).nullable(),
  startedAt: time,
});

export const startedBody = z.strictObject({ reports: z.array(startReport).min(1).max(MAX_REPORTS) });

/** An attempt's result and artifact list (core/job-output.ts), within the limits the agent keeps to. */
const output = z.strictObject({
  // Characters, not bytes: the agent's limit is on bytes, and a string never has more characters than UTF-8 bytes.
  result: z.string().max(OUTPUT_LIMITS.maxResultBytes).refine(isJsonText, 'must be JSON text').nullable(),
  note: z.string().max(OUTPUT_LIMITS.maxNoteChars).nullable(),
  artifacts: z
    .array(
      z.strictObject({
        name: z.string().superRefine((name, ctx) => {
          const problem = artifactNameProblem(name);
          if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
        }),
        bytes: z.int().min(0),
      }),
    )
    .max(OUTPUT_LIMITS.maxArtifacts),
});

const endReport = z.strictObject({
  attemptId,
  startedAt: time.optional(),
  pid: z.int().positive().nullable().optional(),
  logPath: z.string().max(4096).nullable().optional(),
  end: z.strictObject({
    state: z.enum(['succeeded', 'failed', 'timed_out', 'cancelled', 'lost']),
    retryable: z.boolean(),
    reason: z.string().max(4000),
  }),
  exitCode: z.int().nullable(),
  signal: z.string().max(32).nullable(),
  endedAt: time,
  output: output.optional(),
  gpuUsage: gpuUsage.optional(),
});

export const endedBody = z.strictObject({ reports: z.array(endReport).min(1).max(MAX_REPORTS) });
