import { Cron } from 'croner';
import { z } from 'zod';
import { ValidationError, type FieldIssue } from './errors.js';
import { parseJobSpec, zodIssues, type JobSpec } from './job-spec.js';

/**
 * A schedule (ADR 0018): a cron expression, in UTC, that starts a run of a pipeline (with no inputs) or submits one
 * job from a template at each of its times. Parsed once with every default filled in; the store keeps the parsed form.
 *
 * `cron`: 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first; always UTC, so no DST.
 * `missed`, what happens to times that passed while no leader fired them (downtime, a drain; paused time is not
 * missed: resuming starts afresh):
 *   once  (default) one fire for all of them together: the earliest missed time, then on schedule again
 *   skip  none: a time fires only within MISSED_TOLERANCE_MS of it
 *   all   each of them, oldest first, at most MAX_CATCH_UP (the rest are dropped)
 */

const nameRe = /^[a-z0-9][a-z0-9-]{0,62}$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit';

/** How late a time may still fire under `missed: 'skip'` (the boundary minute: a fire exactly this late is missed). */
export const MISSED_TOLERANCE_MS = 60_000;
/** The most missed times `missed: 'all'` fires at once. */
export const MAX_CATCH_UP = 100;

/** A cron expression checked and compiled (croner, UTC), or the reason it is not one. */
function compileCron(cron: string): { cron: Cron } | { problem: string } {
  const fields = cron.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) return { problem: 'must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), in UTC' };
  try {
    // Classic cron: a day matches when day-of-month or day-of-week does (croner's default, domAndDow false).
    return { cron: new Cron(fields.join(' '), { timezone: 'UTC', paused: true, mode: '5-or-6-parts' }) };
  } catch (err) {
    return { problem: `is not a cron expression: ${err instanceof Error ? err.message : String(err)}` };
  }
}

const targetSchema = z.union([z.strictObject({ pipeline: z.string().regex(nameRe, 'must be a pipeline name') }), z.strictObject({ job: z.record(z.string(), z.unknown()) })], {
  error: 'target must be {"pipeline": NAME} (a run with no inputs) or {"job": {...job spec}}',
});

const scheduleSchema = z.strictObject({
  name: z.string().regex(nameRe, NAME_RULE),
  cron: z.string().min(1).max(256),
  target: targetSchema,
  /** @default "once" */
  missed: z.enum(['once', 'skip', 'all'], { error: 'missed must be "once", "skip" or "all"' }).default('once'),
});

export type ScheduleSpecInput = z.input<typeof scheduleSchema>;
export type ScheduleTarget = { pipeline: string } | { job: JobSpec };
export type ScheduleSpec = Omit<z.output<typeof scheduleSchema>, 'target'> & { target: ScheduleTarget };

export interface Schedule {
  name: string;
  spec: ScheduleSpec;
  paused: boolean;
  /** The last time (ms) fired or passed over; null before the first (times count from createdAt). */
  lastFireAt: number | null;
  createdAt: number;
}

/** One fire recorded (what it started: a job or a pipeline run). */
export interface ScheduleFire {
  schedule: string;
  fireAt: number;
  jobId: number | null;
  runId: number | null;
}

/** Parses a schedule; throws ValidationError naming each field and rule broken (a job template's under target.job). */
export function parseScheduleSpec(input: unknown): ScheduleSpec {
  const r = scheduleSchema.safeParse(input);
  const issues: FieldIssue[] = r.success ? [] : zodIssues(r.error);
  const raw = (typeof input === 'object' && input !== null ? input : {}) as { cron?: unknown };
  if (typeof raw.cron === 'string' && !issues.some((i) => i.path === 'cron')) {
    const c = compileCron(raw.cron);
    if ('problem' in c) issues.push({ path: 'cron', message: c.problem });
  }
  let target: ScheduleTarget | undefined;
  if (r.success) {
    const t = r.data.target;
    if ('job' in t) {
      try {
        target = { job: parseJobSpec(t.job, ['target', 'job']) };
      } catch (e) {
        if (e instanceof ValidationError) issues.push(...e.issues);
        else throw e;
      }
    } else target = { pipeline: t.pipeline };
  }
  if (issues.length > 0 || !r.success || !target) throw new ValidationError(issues);
  return { ...r.data, cron: r.data.cron.trim().split(/\s+/).join(' '), target };
}

/** The idempotency key of the job a fire submits: the store keeps one job per key, so a fire submits once. */
export const fireJobKey = (schedule: string, fireAt: number): string => `schedule:${schedule}:${new Date(fireAt).toISOString()}`;

/**
 * The fires due now, pure: `fires` the times to fire, oldest first, and `upTo` the time the schedule has then
 * dealt with (its new lastFireAt; null when nothing is due). Times are those of the cron strictly after
 * `lastFireAt` and at or before `now`. The same `lastFireAt` gives the same first fire whatever `now` is, so a
 * leader that crashed before recording a fire fires the same time again (and its job's idempotency key dedups).
 */
export function dueFires(spec: Pick<ScheduleSpec, 'cron' | 'missed'>, lastFireAt: number, now: number): { fires: number[]; upTo: number | null } {
  const c = compileCron(spec.cron);
  if ('problem' in c) return { fires: [], upTo: null };
  const due: number[] = [];
  for (let from = lastFireAt; due.length < MAX_CATCH_UP; ) {
    const next = c.cron.nextRun(new Date(from));
    if (next === null || next.getTime() > now) break;
    due.push((from = next.getTime()));
  }
  if (due.length === 0) return { fires: [], upTo: null };
  let upTo = due[due.length - 1]!;
  if (due.length === MAX_CATCH_UP) {
    // More may be due: the latest, looked for in the last day first (a dense cron), else walked to (a sparse one).
    upTo = lastTimeAtOrBefore(c.cron, Math.max(upTo, now - DAY_MS), now) ?? lastTimeAtOrBefore(c.cron, upTo, now) ?? upTo;
  }
  if (spec.missed === 'all') return { fires: due, upTo };
  if (spec.missed === 'once') return { fires: [due[0]!], upTo };
  return { fires: now - upTo < MISSED_TOLERANCE_MS ? [upTo] : [], upTo };
}

const DAY_MS = 86_400_000;

/** The cron's last time in (after, now], or null; walks forward (bounded by the cron's density in that span). */
function lastTimeAtOrBefore(cron: Cron, after: number, now: number): number | null {
  let last: number | null = null;
  for (let from = after; ; ) {
    const next = cron.nextRun(new Date(from));
    if (next === null || next.getTime() > now) break;
    last = from = next.getTime();
  }
  return last;
}
