import { z } from 'zod';
import { zodIssues } from './job-spec.js';
import type { FieldIssue } from './errors.js';

/**
 * Broker intake and result publishing (ADR 0017): what `gpuq up --intake-config FILE` holds, validated once at
 * start-up and compiled into a frozen object. Sources read job specs (or, with `pipeline`, pipeline inputs) from a
 * broker (a Redis Streams consumer group, a NATS JetStream durable pull consumer); sinks publish jobs' final states
 * and pipeline runs' ends to a broker.
 *
 * Every option documents its default; a bad file is refused as a whole, each issue naming its field
 * (`sources[1].stream`), and gpuq does not start.
 */

const nameRe = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const name = z.string().regex(nameRe, 'must be 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit');
const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL');
const natsServers = z.array(z.string().min(1)).min(1, 'must name at least one NATS server (host:port or nats://host:port)');
const natsName = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 letters, digits, "_" or "-"');
const natsSubject = z.string().regex(/^[^\s*>]+(\.[^\s*>]+)*$/, 'must be a NATS subject without wildcards');

/** How many times a message may be delivered before it is dead-lettered. @default 5 */
const maxDeliveries = z.int().min(1).max(1000).default(5);
/** Messages read (and stored in one transaction) at a time. @default 500 */
const batchSize = z.int().min(1).max(5000).default(500);
/**
 * Each message starts a run of this pipeline (ADR 0018) instead of making a job: the message's JSON is the run's
 * one input file, named `<stream>-<message id>.json`. The pipeline must exist when a message arrives; a message
 * for a missing pipeline is dead-lettered with the reason.
 */
const pipeline = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a pipeline name (1-63 lowercase letters, digits or "-")')
  .optional();

export const redisSourceSchema = z.strictObject({
  name,
  kind: z.literal('redis'),
  url: redisUrl,
  stream: z.string().min(1).max(512),
  /** The consumer group (created at the start of the stream when missing). @default "gpuq" */
  group: z.string().min(1).max(256).default('gpuq'),
  /** This server's consumer name in the group; only the leader consumes, so one name serves every server. @default "gpuq" */
  consumer: z.string().min(1).max(256).default('gpuq'),
  /** The entry field holding the job spec, or the pipeline input (JSON). @default "job" */
  field: z.string().min(1).max(256).default('job'),
  pipeline,
  /** Where malformed and undeliverable entries go, with their reason. @default "<stream>.dead" */
  deadLetterStream: z.string().min(1).max(512).optional(),
  batchSize,
  /** XREADGROUP BLOCK, in ms: how long one read waits for new entries (at most 1000, so a pause takes hold within a second). @default 500 */
  blockMs: z.int().min(10).max(1000).default(500),
  /** Pending entries idle this long (their reader died or failed to store them) are claimed again (XAUTOCLAIM). @default 30000 */
  claimIdleMs: z.int().min(100).max(86_400_000).default(30_000),
  maxDeliveries,
});

export const natsSourceSchema = z.strictObject({
  name,
  kind: z.literal('nats'),
  servers: natsServers,
  /** The JetStream stream to read (it must exist). */
  stream: natsName,
  /** The durable pull consumer (created when missing). @default "gpuq" */
  consumer: natsName.default('gpuq'),
  /** Only messages on this subject (the consumer's filter subject); all of the stream's without one. */
  subject: natsSubject.optional(),
  pipeline,
  /** Where malformed and undeliverable messages are published, with their reason. @default "<stream>.dead" */
  deadLetterSubject: natsSubject.optional(),
  batchSize,
  /** A delivery not acked within this many ms is redelivered by the server (the consumer's ack_wait). @default 30000 */
  ackWaitMs: z.int().min(100).max(86_400_000).default(30_000),
  maxDeliveries,
});

/** Which jobs (and pipeline runs) a sink publishes: those that came from a broker source, or all of them. */
export const SINK_JOBS = ['intake', 'all'] as const;
export type SinkJobs = (typeof SINK_JOBS)[number];

export const redisSinkSchema = z.strictObject({
  name,
  kind: z.literal('redis'),
  url: redisUrl,
  stream: z.string().min(1).max(512),
  /** @default "intake" */
  jobs: z.enum(SINK_JOBS).default('intake'),
});

export const natsSinkSchema = z.strictObject({
  name,
  kind: z.literal('nats'),
  servers: natsServers,
  /** Published through JetStream (a stream must hold the subject): each publish is acknowledged, so none is lost. */
  subject: natsSubject,
  /** @default "intake" */
  jobs: z.enum(SINK_JOBS).default('intake'),
});

export const intakeConfigSchema = z
  .strictObject({
    /** @default [] */
    sources: z.array(z.discriminatedUnion('kind', [redisSourceSchema, natsSourceSchema])).default([]),
    /** @default [] */
    sinks: z.array(z.discriminatedUnion('kind', [redisSinkSchema, natsSinkSchema])).default([]),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, string>();
    for (const [list, items] of [['sources', c.sources], ['sinks', c.sinks]] as const) {
      items.forEach((item, i) => {
        const first = seen.get(item.name);
        if (first !== undefined) ctx.addIssue({ code: 'custom', path: [list, i, 'name'], message: `"${item.name}" is taken by ${first}: every source and sink needs its own name` });
        else seen.set(item.name, `${list}[${i}]`);
      });
    }
  });

export type RedisSourceConfig = Readonly<z.output<typeof redisSourceSchema>> & { deadLetterStream: string };
export type NatsSourceConfig = Readonly<z.output<typeof natsSourceSchema>> & { deadLetterSubject: string };
export type IntakeSourceConfig = RedisSourceConfig | NatsSourceConfig;
export type RedisSinkConfig = Readonly<z.output<typeof redisSinkSchema>>;
export type NatsSinkConfig = Readonly<z.output<typeof natsSinkSchema>>;
export type IntakeSinkConfig = RedisSinkConfig | NatsSinkConfig;

export interface IntakeConfig {
  readonly sources: readonly IntakeSourceConfig[];
  readonly sinks: readonly IntakeSinkConfig[];
}

export const EMPTY_INTAKE_CONFIG: IntakeConfig = Object.freeze({ sources: Object.freeze([]), sinks: Object.freeze([]) });

/** Validates an intake config (already parsed from YAML or JSON) and fills in defaults; issues name their fields. */
export function parseIntakeConfig(input: unknown): { ok: true; config: IntakeConfig } | { ok: false; issues: FieldIssue[] } {
  const parsed = intakeConfigSchema.safeParse(input);
  if (!parsed.success) return { ok: false, issues: zodIssues(parsed.error) };
  const sources = parsed.data.sources.map((s): IntakeSourceConfig =>
    Object.freeze(s.kind === 'redis' ? { ...s, deadLetterStream: s.deadLetterStream ?? `${s.stream}.dead` } : { ...s, deadLetterSubject: s.deadLetterSubject ?? `${s.stream}.dead` }),
  );
  return { ok: true, config: Object.freeze({ sources: Object.freeze(sources), sinks: Object.freeze(parsed.data.sinks.map((s) => Object.freeze(s))) }) };
}
