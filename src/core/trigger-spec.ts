import { z } from 'zod';
import { ValidationError } from './errors.js';
import { zodIssues } from './job-spec.js';

/**
 * A directory trigger (ADR 0018): watch a directory, and start one run of a pipeline per file that lands in it,
 * once the file is complete. Parsed once with every default filled in; the store keeps the parsed form.
 *
 * When a file is complete (`complete`):
 *   settle  its size and modification time stayed the same for `settleMs` (writers that write in pieces)
 *   marker  a file `<name><suffix>` (default `.done`) exists beside it; the marker is removed with the file
 *   rename  at once: writers move finished files into the directory (an atomic rename), so what appears is whole
 * Ignored: names matching `ignore` (globs with * and ?; default dot files and *.tmp, *.part, *.partial, *.swp),
 * marker files, and anything that is not a regular file (the work areas below are directories).
 *
 * Work areas inside the directory: `.processing/` (a claimed file, while its run runs), `done/` (its run succeeded),
 * `failed/` (its run failed: the file, and `<name>.reason.txt` saying why).
 */

const nameRe = /^[a-z0-9][a-z0-9-]{0,62}$/;
const NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit';

export const DEFAULT_IGNORE = ['.*', '*.tmp', '*.part', '*.partial', '*.swp'];

const completeSchema = z.discriminatedUnion(
  'mode',
  [
    z.strictObject({ mode: z.literal('settle'), settleMs: z.int().min(0).max(3_600_000).default(2000) }),
    z.strictObject({ mode: z.literal('marker'), suffix: z.string().min(1).max(64).regex(/^[^/\0]+$/, 'must be a file name suffix, without "/"').default('.done') }),
    z.strictObject({ mode: z.literal('rename') }),
  ],
  { error: 'mode must be "settle" (size and time unchanged for settleMs), "marker" (a <name>.done file beside it) or "rename" (files are moved in whole)' },
);

const triggerSchema = z.strictObject({
  name: z.string().regex(nameRe, NAME_RULE),
  /** The pipeline a file starts a run of (ADR 0018); each run has that one file as its input. */
  pipeline: z.string().regex(nameRe, 'must be a pipeline name'),
  /** The watched directory: absolute, on the server's filesystem (in a cluster, a mount every server shares). */
  directory: z
    .string()
    .startsWith('/', 'must be an absolute path')
    .max(4096)
    .refine((p) => !p.includes('\0'), 'must not contain NUL characters'),
  /** @default { mode: "settle", settleMs: 2000 } */
  complete: completeSchema.default({ mode: 'settle', settleMs: 2000 }),
  /** @default DEFAULT_IGNORE */
  ignore: z.array(z.string().min(1).max(256).regex(/^[^/\0]+$/, 'a pattern matches file names, without "/"')).max(64).default(DEFAULT_IGNORE),
  /** How often the directory is listed, in milliseconds. @default 250 */
  pollMs: z.int().min(50).max(60_000).default(250),
});

export type TriggerSpecInput = z.input<typeof triggerSchema>;
export type TriggerSpec = z.output<typeof triggerSchema>;

export interface Trigger {
  name: string;
  spec: TriggerSpec;
  paused: boolean;
  createdAt: number;
}

/** Parses a trigger; throws ValidationError naming each field and rule broken. */
export function parseTriggerSpec(input: unknown): TriggerSpec {
  const r = triggerSchema.safeParse(input);
  if (!r.success) throw new ValidationError(zodIssues(r.error));
  return r.data;
}

/** Directories the trigger itself writes inside the watched one. */
export const WORK_AREAS = Object.freeze({ processing: '.processing', done: 'done', failed: 'failed' });

/** A glob of * (any run of characters) and ? (one character) as a whole-name matcher. */
export function globMatcher(pattern: string): (name: string) => boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's');
  return (name) => re.test(name);
}

/** A file seen in the watched directory. */
export interface SeenFile {
  name: string;
  size: number;
  mtimeMs: number;
}

/** What the watcher remembers of a file between listings: how it looked, and since when it has looked so. */
export interface Observation {
  size: number;
  mtimeMs: number;
  since: number;
}

/**
 * One listing's decision, pure: the files complete now (to claim), and the observations to keep for the next
 * listing. `names` holds every name in the directory (markers included); `files` the regular files among them.
 */
export function completeFiles(spec: TriggerSpec, files: readonly SeenFile[], names: ReadonlySet<string>, before: ReadonlyMap<string, Observation>, now: number): { ready: string[]; observed: Map<string, Observation> } {
  const ignored = spec.ignore.map(globMatcher);
  const isMarker = (n: string) => spec.complete.mode === 'marker' && n.endsWith(spec.complete.suffix) && n.length > spec.complete.suffix.length;
  const ready: string[] = [];
  const observed = new Map<string, Observation>();
  for (const f of files) {
    if (ignored.some((m) => m(f.name)) || isMarker(f.name)) continue;
    const c = spec.complete;
    if (c.mode === 'rename') ready.push(f.name);
    else if (c.mode === 'marker') {
      if (names.has(f.name + c.suffix)) ready.push(f.name);
    } else {
      const prev = before.get(f.name);
      const same = prev !== undefined && prev.size === f.size && prev.mtimeMs === f.mtimeMs;
      const since = same ? prev.since : now;
      if (same && now - since >= c.settleMs) ready.push(f.name);
      else observed.set(f.name, { size: f.size, mtimeMs: f.mtimeMs, since });
    }
  }
  return { ready: ready.sort(), observed };
}
