import { z } from 'zod';
import { AUDIT_ACTIONS, ROLES, TOKEN_NAME, TOKEN_NAME_RULE } from '../core/access.js';
import { ValidationError } from '../core/errors.js';
import { expandFeedTypes, FEED_EVENT_TYPES } from '../core/feed-events.js';
import { artifactNameProblem } from '../core/job-output.js';
import { DEFAULT_JOB_SORT, JOB_SORTS } from '../core/job-sort.js';
import { zodIssues } from '../core/job-spec.js';
import { JOB_STATES } from '../core/types.js';

/** Schemas of request parameters and bodies other than the job spec itself. */

export function parseRequest<S extends z.ZodType>(schema: S, data: unknown, prefix: string[] = []): z.output<S> {
  const r = schema.safeParse(data);
  if (!r.success) throw new ValidationError(zodIssues(r.error, prefix));
  return r.data;
}

export const jobIdParams = z.strictObject({
  id: z.string().regex(/^[1-9][0-9]{0,14}$/, 'must be a job ID (a positive integer)').transform(Number),
});

const limit = z.coerce.number().int('must be an integer').min(1).max(1000).default(100);
const cursor = z.string().max(64).optional();

const labelFilter = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(z.string().regex(/^[^=]+=.*$/, 'must be key=value'))
  )
  .transform((items) => Object.fromEntries(items.map((i) => [i.slice(0, i.indexOf('='))!, i.slice(i.indexOf('=') + 1)])));

export const listJobsQuery = z.strictObject({
  state: z
    .string()
    .transform((s) => s.split(',').filter(Boolean))
    .pipe(z.array(z.enum(JOB_STATES as [string, ...string[]], { message: `each state must be one of ${JOB_STATES.join(', ')}` })))
    .optional(),
  queue: z.string().max(64).optional(),
  label: labelFilter.optional(),
  /** A token id, `me` for the caller's own jobs, or the name of the token that submitted them. */
  owner: z
    .string()
    .refine((v) => /^(me|tok_[0-9a-f]{16})$/.test(v) || TOKEN_NAME.test(v), 'must be a token id (tok_…), "me", or a token name')
    .optional(),
  /** Jobs whose name contains this (ASCII letters in either case). */
  name: z.string().min(1, 'must not be empty').max(200).regex(/^[^\u0000-\u001f\u007f]*$/, 'must be printable text (no control characters)').optional(),
  sort: z.enum(JOB_SORTS as [string, ...string[]], { message: `must be one of ${JOB_SORTS.join(', ')}` }).default(DEFAULT_JOB_SORT),
  limit,
  cursor,
});

/** GET /v1/report: the range (core/slo-report.ts parses since and until) and one queue. */
export const reportQuery = z.strictObject({
  since: z.string().max(64).optional(),
  until: z.string().max(64).optional(),
  queue: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a queue name (1-64 lowercase letters, digits, ".", "_" or "-")').optional(),
});

/** GET /v1/jobs/counts. */
export const jobCountsQuery = z.strictObject({
  queue: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a queue name (1-64 lowercase letters, digits, ".", "_" or "-")').optional(),
});

export const dlqQuery = z.strictObject({ queue: z.string().max(64).optional(), limit, cursor });

/** Replay or purge: explicit IDs, or everything (optionally one queue). */
export const dlqSelectorBody = z.union([
  z.strictObject({ ids: z.array(z.int().positive()).min(1).max(10_000) }),
  z.strictObject({ all: z.literal(true), queue: z.string().max(64).optional() }),
], { message: 'give {"ids": [job IDs]} or {"all": true, "queue"?: name}' });

export const logsQuery = z.strictObject({
  attempt: z.coerce.number().int().min(1).optional(),
  /** Last N lines only. */
  tail: z.coerce.number().int().min(0).max(1_000_000).optional(),
  follow: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(false),
});

/** Which attempt's result or artifacts: the latest that reported one when absent. */
export const outputQuery = z.strictObject({ attempt: z.coerce.number().int().min(1).optional() });

/** An artifact: its job, and its name (the route's wildcard), a relative path inside the attempt's artifacts directory. */
export const artifactParams = jobIdParams.extend({
  '*': z.string().superRefine((name, ctx) => {
    const problem = artifactNameProblem(name);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: `the artifact name ${problem}` });
  }),
});

export const cancelBody = z.strictObject({ reason: z.string().max(1000).optional() }).default({});

export const queueParams = z.strictObject({ queue: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a queue name') });

export const maintenanceBody = z.strictObject({ mode: z.enum(['drain', 'normal']) });

const nodeId = z.string().min(1).max(63);

export const nodeParams = z.strictObject({ node: nodeId });

export const nodeDeviceParams = z.strictObject({
  node: nodeId,
  index: z.string().regex(/^[0-9]{1,3}$/, 'must be a device index').transform(Number),
});

export const telemetryQuery = z.strictObject({ sinceMs: z.coerce.number().min(0).optional() });

export const newTokenBody = z.strictObject({
  name: z.string().regex(TOKEN_NAME, `must be ${TOKEN_NAME_RULE}`),
  role: z.enum(ROLES, { message: `must be one of ${ROLES.join(', ')}` }),
});

export const tokenIdParams = z.strictObject({ id: z.string().regex(/^tok_[0-9a-f]{16}$/, 'must be a token id (tok_ and 16 hex digits, see `gpuq token ls`)') });

export const listTokensQuery = z.strictObject({
  all: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(false),
});

export const auditQuery = z.strictObject({
  action: z.enum(AUDIT_ACTIONS, { message: `must be one of ${AUDIT_ACTIONS.join(', ')}` }).optional(),
  limit,
  cursor,
});

/** An event id to resume after (`after`, or the Last-Event-ID header): 0 reads from the start of what is kept. */
export const feedEventId = z.string().regex(/^(0|[1-9][0-9]{0,14})$/, 'must be an event id (a non-negative integer, as sent in the `id:` field of an event)').transform(Number);

export const eventsQuery = z.strictObject({
  types: z
    .string()
    .transform((s, ctx) => {
      const r = expandFeedTypes(s.split(',').map((t) => t.trim()).filter(Boolean));
      if ('unknown' in r) {
        ctx.addIssue({ code: 'custom', message: `"${r.unknown}" is not an event type: use ${FEED_EVENT_TYPES.join(', ')}, or the part before the dot (job, node, …)` });
        return z.NEVER;
      }
      return r.types;
    })
    .optional(),
  job: z.string().regex(/^[1-9][0-9]{0,14}$/, 'must be a job ID (a positive integer)').transform(Number).optional(),
  queue: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be a queue name').optional(),
  after: feedEventId.optional(),
  follow: z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1').default(true),
  limit,
});
