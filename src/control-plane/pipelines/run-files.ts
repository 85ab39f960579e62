import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { ValidationError, type FieldIssue } from '../../core/errors.js';
import { outputName, type PublishedFile, type RunLayout } from '../../core/pipeline-run.js';

/**
 * The files of pipeline runs (ADR 0018): the run directory a run's jobs read and write, and the publishing of a
 * successful run's last step into the pipeline's output directory. I/O only; the layout and the names are
 * core/pipeline-run.ts's.
 */

/** A run's input as the API takes it: a file this server reads (named as it is, or `name`), or the file's bytes (base64). */
export type RunInput = { path: string; name?: string } | { name: string; data: string };

/** At most this many bytes of inline input data per run (the request body carries it, base64). */
const MAX_INLINE_BYTES = 8 * 1024 * 1024;

function checkName(name: string, field: string, issues: FieldIssue[]): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0') || name.length > 255) issues.push({ path: field, message: 'must be a file name (no "/", not "." or "..", at most 255 characters)' });
}

/** The inputs' file names, in lane order; throws ValidationError naming `inputs.<i>.…` when one is unusable. Reads nothing but the files' metadata. */
export async function checkInputs(inputs: readonly RunInput[]): Promise<string[]> {
  const issues: FieldIssue[] = [];
  const names: string[] = [];
  let inline = 0;
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    if ('path' in input) {
      const field = `inputs.${i}.path`;
      if (!path.isAbsolute(input.path)) issues.push({ path: field, message: 'must be an absolute path (the server reads it)' });
      else {
        const stat = await fs.stat(input.path).catch((e: NodeJS.ErrnoException) => e);
        if (stat instanceof Error) issues.push({ path: field, message: `cannot be read by the server: ${stat.code ?? stat.message}` });
        else if (!stat.isFile()) issues.push({ path: field, message: 'must be a regular file' });
        else await fs.access(input.path, constants.R_OK).catch(() => issues.push({ path: field, message: 'is not readable by the server' }));
      }
      const name = input.name ?? path.basename(input.path);
      if (input.name !== undefined) checkName(input.name, `inputs.${i}.name`, issues);
      names.push(name);
    } else {
      checkName(input.name, `inputs.${i}.name`, issues);
      inline += Buffer.byteLength(input.data, 'base64');
      names.push(input.name);
    }
  }
  if (inline > MAX_INLINE_BYTES) issues.push({ path: 'inputs', message: `inline data is ${inline} bytes; at most ${MAX_INLINE_BYTES} per run (give larger files by path)` });
  if (issues.length > 0) throw new ValidationError(issues);
  return names;
}

/** A new run directory under the pipeline's: named by time and a random part (the run's id is not known before it is stored). */
export function newRunDir(pipelinesDir: string, pipeline: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return path.join(pipelinesDir, pipeline, 'runs', `${stamp}-${randomBytes(4).toString('hex')}`);
}

/**
 * Lays the run directory out before the run is stored: each input copied into its lane's directory, and every
 * directory a job will write created. A crash before the run is stored leaves a directory no run names.
 */
export async function prepareRunDir(layout: RunLayout, inputs: readonly RunInput[], names: readonly string[], outputDirs: readonly string[]): Promise<void> {
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i]!;
    const dir = layout.inputDir(i);
    await fs.mkdir(dir, { recursive: true });
    const target = path.join(dir, names[i]!);
    if ('path' in input) await fs.copyFile(input.path, target);
    else await fs.writeFile(target, Buffer.from(input.data, 'base64'));
  }
  for (const dir of outputDirs) await fs.mkdir(dir, { recursive: true });
}

/** Removes a run directory no stored run names (its run was refused, or started before under the same key). */
export async function removeRunDir(runDir: string): Promise<void> {
  await fs.rm(runDir, { recursive: true, force: true });
}

/** The regular files the jobs of the last step wrote (in their output directories, top level), in lane order then by name. */
export async function finalFiles(dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries.filter((x) => x.isFile()).sort((a, b) => (a.name < b.name ? -1 : 1))) out.push(path.join(dir, e.name));
  }
  return out;
}

/** Names for publishing `files` into `outputDir`: their own, or `<stem>.run<id><ext>` when taken there or by an earlier file of this run. */
export async function chooseOutputs(files: readonly string[], outputDir: string, runId: number): Promise<PublishedFile[]> {
  const taken = new Set(await fs.readdir(outputDir).catch(() => []));
  return files.map((from) => {
    const name = outputName(path.basename(from), runId, taken);
    taken.add(name);
    return { from, name };
  });
}

/**
 * Publishes the chosen files: each copied to a hidden temporary name in the output directory, then renamed into
 * place, so a reader never sees a partial file. A file already in place was published before a restart: kept.
 */
export async function publish(outputs: readonly PublishedFile[], outputDir: string, runId: number): Promise<void> {
  await fs.mkdir(outputDir, { recursive: true });
  for (const o of outputs) {
    const target = path.join(outputDir, o.name);
    if (await fs.stat(target).then(() => true, () => false)) continue;
    const tmp = path.join(outputDir, `.gpuq-run${runId}-${o.name}.tmp`);
    await fs.copyFile(o.from, tmp);
    await fs.rename(tmp, target);
  }
}
