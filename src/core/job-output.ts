import type { AttemptState } from './types.js';

/**
 * What an attempt leaves behind besides its log: a JSON result and artifact files.
 *
 * Each exec attempt gets a directory of its own, `GPUQ_ARTIFACTS_DIR`, and a path inside it,
 * `GPUQ_RESULT_FILE` (`<artifacts dir>/result.json`). When the attempt ends (however it ends: a
 * failed attempt's result is kept for diagnostics), its agent reads the result file if there is one
 * (at most `maxResultBytes`, valid JSON, kept as the text the job wrote) and lists the regular files
 * of the directory (relative names and sizes; the result file is one of them), and sends both with
 * the attempt's end, which the store records in the same transaction. A result that is too big or
 * not JSON is not kept; the attempt ends as it would have, with a note saying why in its reason.
 * The files stay on the agent's disk; the API reads them from there (through a remote agent's log
 * server in cluster mode).
 */

export const OUTPUT_LIMITS = Object.freeze({
  /** The largest result file kept, in bytes. */
  maxResultBytes: 1024 * 1024,
  /** Most artifact files listed per attempt; the rest are counted in the note. */
  maxArtifacts: 1000,
  /** Longest artifact name (its path relative to the artifacts directory), in UTF-8 bytes. */
  maxArtifactNameBytes: 1024,
  /** Longest note. */
  maxNoteChars: 2000,
});

/** The result file's name inside the artifacts directory: GPUQ_RESULT_FILE. */
export const RESULT_FILE_NAME = 'result.json';

/** An artifact: its path relative to the attempt's artifacts directory ("/"-separated) and its size. */
export interface ArtifactEntry {
  name: string;
  bytes: number;
}

/** What an agent reports of an attempt's output with its end. */
export interface AttemptOutput {
  /** The result as the JSON text the job wrote (trimmed); null when it left none, or one that could not be kept. */
  result: string | null;
  /** Why a result was not kept, or artifacts were left out of the list; null when nothing was. */
  note: string | null;
  artifacts: ArtifactEntry[];
}

/** An attempt's recorded output, as the API reads it. */
export interface JobOutput extends AttemptOutput {
  jobId: number;
  /** The attempt's number within its job. */
  attempt: number;
  attemptId: number;
  /** Where the attempt ran: its artifacts are on that node's disk. */
  nodeId: string;
  state: AttemptState;
}

/**
 * Why `name` cannot be an artifact name, or null when it can: a relative path of "/"-separated parts,
 * none empty, "." or "..", no NUL, at most maxArtifactNameBytes. So a name can never leave the
 * attempt's artifacts directory (the agents also refuse symbolic links that lead out of it).
 */
export function artifactNameProblem(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.includes('\0')) return 'must not contain NUL characters';
  if (utf8Length(name) > OUTPUT_LIMITS.maxArtifactNameBytes) return `must be at most ${OUTPUT_LIMITS.maxArtifactNameBytes} bytes`;
  if (name.startsWith('/')) return 'must be a path relative to the artifacts directory, not an absolute one';
  if (name.split('/').some((part) => part === '' || part === '.' || part === '..')) return 'must be a plain relative path: no empty, "." or ".." parts';
  return null;
}

/** Whether `text` is one JSON value (what a stored result must be). */
export function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Joins notes into one, bounded. */
export function joinNotes(notes: readonly (string | null | undefined)[]): string | null {
  const text = notes.filter((n): n is string => !!n).join('; ');
  if (text === '') return null;
  return text.length <= OUTPUT_LIMITS.maxNoteChars ? text : `${text.slice(0, OUTPUT_LIMITS.maxNoteChars - 1)}…`;
}

/** "1.5 MiB", "812 bytes": sizes in notes. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
