import { GpuqError } from '../../core/errors.js';
import type { JobSpec } from '../../core/job-spec.js';
import { decideDelivery, decodeIntakeMessage, decodeRunInput, overDeliveryLimit, type DeliveryDecision, type DeliveryOutcome, type MessageOrigin, type RunInputMessage } from '../../core/intake-message.js';

/** Errors that refuse a spec or a run for good: sending it again changes nothing. */
const PERMANENT = new Set(['VALIDATION_FAILED', 'UNSCHEDULABLE', 'PIPELINE_NOT_FOUND', 'POOL_NOT_FOUND', 'POOL_STOPPED']);

/**
 * Stores job specs from a broker and says, for each, how it went (core/intake-message.ts decideDelivery takes it
 * from there). The batch is submitted in one transaction; when the control plane refuses it for one spec (a
 * dependency that does not exist, an unschedulable spec), each spec is submitted alone, so one bad message does
 * not hold back the others. Resolves only after the commit: an ack follows a durable job.
 */
export async function storeSpecs(submit: (specs: JobSpec[]) => Promise<unknown>, specs: JobSpec[]): Promise<DeliveryOutcome[]> {
  if (specs.length === 0) return [];
  try {
    await submit(specs);
    return specs.map(() => ({ kind: 'stored' }));
  } catch (err) {
    if (!isPermanent(err) || specs.length === 1) return specs.map(() => outcomeOf(err));
  }
  const out: DeliveryOutcome[] = [];
  for (const spec of specs) {
    try {
      await submit([spec]);
      out.push({ kind: 'stored' });
    } catch (err) {
      out.push(outcomeOf(err));
    }
  }
  return out;
}

function isPermanent(err: unknown): boolean {
  return err instanceof GpuqError && PERMANENT.has(err.code);
}

function outcomeOf(err: unknown): DeliveryOutcome {
  const reason = err instanceof GpuqError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  return isPermanent(err) ? { kind: 'rejected', reason: `refused: ${reason}` } : { kind: 'failed', reason };
}

/** One delivery of a broker message, as a source hands it over. */
export interface Delivery {
  origin: MessageOrigin;
  /** The job spec's JSON text; null when the message lacks it. */
  body: string | null;
  /** How many times the broker has delivered it, this time included. */
  deliveries: number;
}

/** How a source turns deliveries into work: decodes each (or says why it is dead), then stores the decoded ones. */
export interface BatchHandler<T> {
  decode(d: Delivery): { ok: true; item: T } | { ok: false; reason: string };
  /** One outcome per item, in order; resolves only after what was stored is durable. */
  store(items: T[]): Promise<DeliveryOutcome[]>;
}

/** A job per message: the field holds a job spec; the batch is stored in one transaction (storeSpecs). */
export function jobHandler(field: string, submit: (specs: JobSpec[]) => Promise<unknown>): BatchHandler<JobSpec> {
  return {
    decode: (d) => {
      const decoded = decodeIntakeMessage(d.body, d.origin, field);
      return decoded.ok ? { ok: true, item: decoded.spec } : decoded;
    },
    store: (specs) => storeSpecs(submit, specs),
  };
}

/** A pipeline run per message (a source with `pipeline`): each run started in its own transaction, once per message key. */
export function runHandler(field: string, startRun: (input: RunInputMessage) => Promise<unknown>): BatchHandler<RunInputMessage> {
  return {
    decode: (d) => {
      const decoded = decodeRunInput(d.body, d.origin, field);
      return decoded.ok ? { ok: true, item: decoded.input } : decoded;
    },
    store: async (inputs) => {
      const out: DeliveryOutcome[] = [];
      for (const input of inputs) {
        try {
          await startRun(input);
          out.push({ kind: 'stored' });
        } catch (err) {
          out.push(outcomeOf(err));
        }
      }
      return out;
    },
  };
}

/** What each delivery of a batch comes to, in order: decode, dead-letter what must be, store the rest. */
export async function decideBatch<T>(batch: readonly Delivery[], options: { maxDeliveries: number; handler: BatchHandler<T> }): Promise<DeliveryDecision[]> {
  const decisions: (DeliveryDecision | null)[] = [];
  const toStore: { index: number; item: T }[] = [];
  batch.forEach((d, index) => {
    const over = overDeliveryLimit(d.deliveries, options.maxDeliveries);
    if (over !== null) return void decisions.push({ action: 'dead-letter', reason: over });
    const decoded = options.handler.decode(d);
    if (!decoded.ok) return void decisions.push({ action: 'dead-letter', reason: decoded.reason });
    decisions.push(null);
    toStore.push({ index, item: decoded.item });
  });
  const outcomes = toStore.length === 0 ? [] : await options.handler.store(toStore.map((s) => s.item));
  toStore.forEach((s, i) => {
    decisions[s.index] = decideDelivery(outcomes[i]!, batch[s.index]!.deliveries, options.maxDeliveries);
  });
  return decisions as DeliveryDecision[];
}

/** The metric label of a dead letter's reason. */
export function deadLetterKind(reason: string): 'malformed' | 'rejected' | 'deliveries' {
  if (reason.startsWith('malformed') || reason.startsWith('invalid job spec')) return 'malformed';
  if (reason.startsWith('refused')) return 'rejected';
  return 'deliveries';
}
