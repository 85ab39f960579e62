import { Readable } from 'node:stream';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes, joinNotes, OUTPUT_LIMITS, RESULT_FILE_NAME, type ArtifactEntry, type AttemptOutput } from '../core/job-output.js';

/**
 * An attempt's output on the agent's disk (core/job-output.ts says what it is): collected when the
 * attempt ends, and read back file by file for the API (log-server.ts for a remote agent, the API's
 * own route for `gpuq up`'s agent). Artifacts are the regular files under the attempt's artifacts
 * directory; symbolic links and other special files are neither listed nor served, so nothing outside
 * the directory can be reached through it.
 */

/** How deep the artifacts directory is walked. */
const MAX_DEPTH = 32;

/** Where an agent keeps an attempt's artifacts: derived from ids alone, like its log (log-files.ts). */
export function attemptArtifactsDir(dataDir: string, jobId: number, attemptNumber: number): string {
  return path.join(dataDir, 'jobs', String(jobId), `artifacts-${attemptNumber}`);
}

/** The path given to the attempt as GPUQ_RESULT_FILE. */
export function resultFilePath(artifactsDir: string): string {
  return path.join(artifactsDir, RESULT_FILE_NAME);
}

/**
 * Reads the result file and lists the artifacts of an attempt that has ended. Never throws for what the
 * job left (a missing directory, a result too big or not JSON, too many files): those become a note.
 */
export async function collectAttemptOutput(artifactsDir: string): Promise<AttemptOutput> {
  const notes: string[] = [];
  const { artifacts, skipped } = await listArtifacts(artifactsDir);
  if (skipped > 0) notes.push(`${skipped} more artifact file(s) not listed (at most ${OUTPUT_LIMITS.maxArtifacts}, names at most ${OUTPUT_LIMITS.maxArtifactNameBytes} bytes, ${MAX_DEPTH} directories deep)`);
  const resultEntry = artifacts.find((a) => a.name === RESULT_FILE_NAME);
  let result: string | null = null;
  if (resultEntry !== undefined) {
    const read = await readResult(resultFilePath(artifactsDir), resultEntry.bytes);
    result = read.result;
    if (read.note) notes.push(read.note);
  }
  return { result, note: joinNotes(notes), artifacts };
}

async function readResult(file: string, bytes: number): Promise<{ result: string | null; note: string | null }> {
  const limit = OUTPUT_LIMITS.maxResultBytes;
  if (bytes > limit) return { result: null, note: `result not kept: ${RESULT_FILE_NAME} is ${formatBytes(bytes)}, over the ${formatBytes(limit)} limit (it is still listed as an artifact)` };
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      // Read at most one byte past the limit: the file may have grown since it was listed.
      const buf = Buffer.alloc(limit + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > limit) return { result: null, note: `result not kept: ${RESULT_FILE_NAME} is over the ${formatBytes(limit)} limit (it is still listed as an artifact)` };
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    return { result: null, note: `result not kept: ${RESULT_FILE_NAME} could not be read (${err instanceof Error ? err.message : String(err)})` };
  }
  text = text.replace(/^\uFEFF/, '').trim();
  if (text === '') return { result: null, note: `result not kept: ${RESULT_FILE_NAME} is empty` };
  try {
    JSON.parse(text);
  } catch (err) {
    return { result: null, note: `result not kept: ${RESULT_FILE_NAME} is not valid JSON (${err instanceof Error ? err.message : String(err)})` };
  }
  return { result: text, note: null };
}

/** The regular files under `dir`, by relative name in sorted order, up to the limits; `skipped` counts the rest. */
export async function listArtifacts(dir: string): Promise<{ artifacts: ArtifactEntry[]; skipped: number }> {
  const artifacts: ArtifactEntry[] = [];
  let skipped = 0;
  const walk = async (abs: string, rel: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch {
      return; // no directory (the attempt never got one) or unreadable: nothing to list
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const name = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (depth < MAX_DEPTH) await walk(path.join(abs, e.name), name, depth + 1);
        continue;
      }
      if (!e.isFile()) continue; // symbolic links, sockets, devices: not artifacts
      if (artifacts.length >= OUTPUT_LIMITS.maxArtifacts || Buffer.byteLength(name) > OUTPUT_LIMITS.maxArtifactNameBytes) {
        skipped++;
        continue;
      }
      try {
        artifacts.push({ name, bytes: (await lstat(path.join(abs, e.name))).size });
      } catch {
        // Removed meanwhile (a straggling process): not an artifact.
      }
    }
  };
  await walk(dir, '', 0);
  return { artifacts, skipped };
}

/**
 * Opens an artifact for reading: a regular file whose real path is inside the artifacts directory
 * (no symbolic link may lead out), or null when there is none by that name. `name` must already have
 * passed artifactNameProblem (core/job-output.ts).
 */
export async function openArtifact(dir: string, name: string): Promise<{ stream: Readable; bytes: number } | null> {
  try {
    const root = await realpath(dir);
    const real = await realpath(path.join(dir, ...name.split('/')));
    if (!real.startsWith(root + path.sep)) return null;
    const info = await stat(real);
    if (!info.isFile()) return null;
    const fh = await open(real, 'r');
    try {
      // The size of what was opened, and exactly that many bytes (a file still growing does not break a content-length).
      const bytes = (await fh.stat()).size;
      if (bytes === 0) {
        await fh.close();
        return { stream: Readable.from([]), bytes };
      }
      return { stream: fh.createReadStream({ start: 0, end: bytes - 1, autoClose: true }), bytes };
    } catch (err) {
      await fh.close();
      throw err;
    }
  } catch {
    return null;
  }
}
