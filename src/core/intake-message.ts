import { ValidationError } from './errors.js';
import { parseJobSpec, type JobSpec } from './job-spec.js';

/**
 * What one broker message becomes (ADR 0017): a job spec (the body of POST /v1/jobs, as JSON) with an idempotency
 * key and the intake label, or a reason to dead-letter it. Pure: the broker clients live in control-plane/intake/.
 *
 * Idempotency: a redelivered message (the same stream entry, the same JetStream sequence) carries the same key,
 * so it never makes a second job; the store returns the first. The key is the producer's own `idempotencyKey`
 * when the spec has one (a producer that sends twice is deduplicated too), else one derived from where the
 * message sits in its broker: `intake:redis:<stream>:<entry id>` or `intake:nats:<stream>:<sequence>`.
 */

/** The label every job from a broker source carries, valued with the source's name: what sinks with `jobs: intake` publish. */
export const INTAKE_LABEL = 'gpuq.intake';

/** Where a message sits in its broker: its identity for idempotency and dead letters. */
export interface MessageOrigin {
  source: string;
  broker: 'redis' | 'nats';
  /** The Redis stream or JetStream stream name. */
  stream: string;
  /** The Redis entry id (`1700000000000-0`) or the JetStream stream sequence, as text. */
  messageId: string;
}

export type DecodedMessage = { ok: true; spec: JobSpec; idempotencyKey: string } | { ok: false; reason: string };

export function derivedIdempotencyKey(origin: MessageOrigin): string {
  return `intake:${origin.broker}:${origin.stream}:${origin.messageId}`.slice(0, 256);
}

/**
 * Decodes a message body into a parsed job spec (every default filled in) for ControlPlane.submitParsed: JSON, one
 * object, valid by the job spec schema, with the idempotency key and the intake label added; parsed here once, not
 * again at submit. `null` body: the field holding it was missing.
 */
export function decodeIntakeMessage(body: string | null, origin: MessageOrigin, field = 'job'): DecodedMessage {
  if (body === null) return { ok: false, reason: `malformed: the message has no "${field}" field` };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `malformed: not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, reason: 'malformed: a message holds one job spec, a JSON object' };
  const input = value as Record<string, unknown>;
  const labels = input.labels ?? {};
  const labelsOk = typeof labels === 'object' && labels !== null && !Array.isArray(labels);
  const idempotencyKey = typeof input.idempotencyKey === 'string' && input.idempotencyKey.length > 0 ? input.idempotencyKey : derivedIdempotencyKey(origin);
  const spec: Record<string, unknown> = { ...input, idempotencyKey, labels: labelsOk ? { ...labels, [INTAKE_LABEL]: origin.source } : labels };
  try {
    return { ok: true, spec: parseJobSpec(spec), idempotencyKey };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    return { ok: false, reason: `invalid job spec: ${err.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}` };
  }
}

/** A pipeline input from a broker message: the run's one input file (its name and text) and the run's idempotency key. */
export interface RunInputMessage {
  name: string;
  text: string;
  idempotencyKey: string;
}
export type DecodedRunInput = { ok: true; input: RunInputMessage } | { ok: false; reason: string };

/** The input file's name: `<stream>-<message id>.json`, with anything but letters, digits, ".", "_" and "-" made "_". */
export function runInputName(origin: MessageOrigin): string {
  return `${origin.stream}-${origin.messageId}`.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 250) + '.json';
}

/**
 * Decodes a message for a source with a `pipeline` (core/intake-config.ts): its body must be JSON (any value); it
 * becomes the run's input file as sent. The run's key is derived from where the message sits in its broker, so
 * a redelivered message never starts a second run.
 */
export function decodeRunInput(body: string | null, origin: MessageOrigin, field = 'job'): DecodedRunInput {
  if (body === null) return { ok: false, reason: `malformed: the message has no "${field}" field` };
  try {
    JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `malformed: not JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  return { ok: true, input: { name: runInputName(origin), text: body, idempotencyKey: derivedIdempotencyKey(origin) } };
}

/**
 * What to do with a message, given how many times it has been delivered (this delivery included) and how
 * processing it went:
 * - `store`: not yet tried, try it (`attempt`);
 * - `ack`: stored (or already stored under its key): acknowledge it;
 * - `dead-letter`: malformed or refused for good (validation), or delivered `maxDeliveries` times without being
 *   stored; published with its reason to the dead-letter stream/subject, then acknowledged. Never retried forever.
 * - `retry`: a transient failure (store unavailable) with deliveries left: leave it unacknowledged, the broker
 *   delivers it again (Redis: claimed after claimIdleMs; NATS: after ackWaitMs).
 */
export type DeliveryOutcome = { kind: 'stored' } | { kind: 'rejected'; reason: string } | { kind: 'failed'; reason: string };
export type DeliveryDecision = { action: 'ack' } | { action: 'dead-letter'; reason: string } | { action: 'retry' };

export function decideDelivery(outcome: DeliveryOutcome, deliveries: number, maxDeliveries: number): DeliveryDecision {
  switch (outcome.kind) {
    case 'stored':
      return { action: 'ack' };
    case 'rejected':
      return { action: 'dead-letter', reason: outcome.reason };
    case 'failed':
      return deliveries >= maxDeliveries ? { action: 'dead-letter', reason: `not stored after ${deliveries} deliveries: ${outcome.reason}` } : { action: 'retry' };
  }
}

/**
 * A delivery past the limit (the server died while handling the last allowed one) is dead-lettered before it
 * is tried again, so a message that crashes gpuq cannot crash it forever.
 */
export function overDeliveryLimit(deliveries: number, maxDeliveries: number): string | null {
  return deliveries > maxDeliveries ? `delivered ${deliveries} times (limit ${maxDeliveries}) without being stored` : null;
}
