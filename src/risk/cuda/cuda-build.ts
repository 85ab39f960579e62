/**
 * Compiles risk-engine.cu with nvcc on first use and caches the binary.
 *
 * Cache: <cacheDir>/gpuq/cuda/<hash>/risk-engine, hash = sha256 of the source, `nvcc --version` and
 * the flags, so any change to one of them builds a new binary beside the old ones. nvcc writes to a
 * temporary name in that folder and the result is renamed into place: rename is atomic, so a reader
 * sees no binary or a whole one. Calls within one process share one compile; processes take a lock
 * file in the build's folder, so concurrent first uses on one host (a run's shards) compile once.
 * build.json beside the binary records what it was built from, so a host without nvcc can still use a
 * binary cached from this source (findCachedBinary).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CudaBuildError, NvccNotFoundError } from './cuda-errors.js';
import { cudaEnvironment, type CudaEnvironment } from './cuda-environment.js';

export interface CudaBuildOptions {
  /** The nvcc to compile with. @default the first nvcc on PATH, else $CUDA_HOME/bin/nvcc (CUDA_HOME defaults to /usr/local/cuda) */
  nvcc?: string;
  /** The cache root; binaries go under <cacheDir>/gpuq/cuda/. @default $XDG_CACHE_HOME, else ~/.cache */
  cacheDir?: string;
  /** nvcc's target flags (-gencode …, or -arch=…). @default DEFAULT_GENCODE */
  gencode?: readonly string[];
  /** The CUDA source. @default risk-engine.cu beside this module, else src/risk/cuda/risk-engine.cu of the package */
  source?: string;
  /** The environment the defaults come from. @default cudaEnvironment(), the variables of this process */
  environment?: CudaEnvironment;
}

/**
 * Machine code for the A100 (sm_80) and H100 (sm_90) generations, and compute_90 PTX that the driver
 * compiles for newer GPUs (Blackwell and later) on first load. `nvcc --list-gpu-arch` on CUDA 13:
 * compute_75 … compute_121.
 */
export const DEFAULT_GENCODE: readonly string[] = Object.freeze(['-gencode', 'arch=compute_80,code=sm_80', '-gencode', 'arch=compute_90,code=sm_90', '-gencode', 'arch=compute_90,code=compute_90']);

/** Flags every build gets. No fast-math: the kernel picks its approximations explicitly (ADR 0010). */
export const NVCC_FLAGS: readonly string[] = Object.freeze(['-O3', '-std=c++17']);

const BINARY = 'risk-engine';

export interface CudaBinary {
  /** The executable. */
  path: string;
  /** The cache key: sha256 of source, nvcc version and flags (hex). */
  hash: string;
  /** Whether this call compiled it (false: found in the cache). */
  compiled: boolean;
  /** Seconds spent in nvcc by this call (0 from the cache). */
  compileSeconds: number;
}

interface BuildRecord {
  sourceSha256: string;
  nvccVersion: string;
  flags: string[];
  builtAt: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The CUDA source: beside this module (src/risk/cuda under vitest, or dist/risk/cuda once the build
 * copies .cu files), else in the package's src/risk/cuda (a checkout's dist/ running without it).
 */
export function cudaSourcePath(options: Pick<CudaBuildOptions, 'source'> = {}): string {
  const candidates = options.source !== undefined ? [options.source] : [path.join(here, `${BINARY}.cu`), path.resolve(here, '../../../src/risk/cuda', `${BINARY}.cu`)];
  const found = candidates.find((c) => existsSync(c));
  if (found === undefined) throw new Error(`the CUDA engine's source is missing (looked for ${candidates.join(' and ')})`);
  return found;
}

/** Where nvcc would be looked for, in order. */
export function nvccCandidates(env: CudaEnvironment = cudaEnvironment()): string[] {
  return [...env.searchPath.map((d) => path.join(d, 'nvcc')), ...(env.cudaHome ? [path.join(env.cudaHome, 'bin', 'nvcc')] : [])];
}

/** The nvcc to use, or undefined when there is none. */
export function findNvcc(options: Pick<CudaBuildOptions, 'nvcc' | 'environment'> = {}): string | undefined {
  if (options.nvcc !== undefined) return existsSync(options.nvcc) ? options.nvcc : undefined;
  return nvccCandidates(options.environment ?? cudaEnvironment()).find((p) => existsSync(p));
}

export function cacheRoot(options: Pick<CudaBuildOptions, 'cacheDir' | 'environment'> = {}): string {
  return path.join(options.cacheDir ?? (options.environment ?? cudaEnvironment()).cacheHome, 'gpuq', 'cuda');
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The cache key of a build. */
export function cudaBuildHash(source: string, nvccVersion: string, flags: readonly string[]): string {
  return sha256(JSON.stringify({ source: sha256(source), nvcc: nvccVersion, flags }));
}

const nvccVersions = new Map<string, string>();
function nvccVersion(nvcc: string): string {
  let v = nvccVersions.get(nvcc);
  if (v === undefined) {
    const r = spawnSync(nvcc, ['--version'], { encoding: 'utf8' });
    if (r.status !== 0) throw new CudaBuildError([nvcc, '--version'], r.status, `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`, { cause: r.error });
    v = r.stdout.trim();
    nvccVersions.set(nvcc, v);
  }
  return v;
}

/**
 * A binary in the cache built from this source with these flags by any nvcc, for hosts without nvcc;
 * undefined when there is none.
 */
export function findCachedBinary(options: CudaBuildOptions = {}): string | undefined {
  const root = cacheRoot(options);
  if (!existsSync(root)) return undefined;
  const sourceSha256 = sha256(readFileSync(cudaSourcePath(options), 'utf8'));
  const flags = JSON.stringify([...NVCC_FLAGS, ...(options.gencode ?? DEFAULT_GENCODE)]);
  for (const dir of readdirSync(root)) {
    try {
      const rec = JSON.parse(readFileSync(path.join(root, dir, 'build.json'), 'utf8')) as BuildRecord;
      const bin = path.join(root, dir, BINARY);
      if (rec.sourceSha256 === sourceSha256 && JSON.stringify(rec.flags) === flags && existsSync(bin)) return bin;
    } catch {
      // Not a build folder, or one being written: skip it.
    }
  }
  return undefined;
}

const building = new Map<string, Promise<CudaBinary>>();

/**
 * The compiled engine for the current source: from the cache, or compiled now (tens of seconds: nvcc
 * builds for every target in `gencode`). Throws NvccNotFoundError without nvcc or a cached build, and
 * CudaBuildError with nvcc's output when it fails.
 */
export async function buildCudaEngine(options: CudaBuildOptions = {}): Promise<CudaBinary> {
  const source = cudaSourcePath(options);
  const nvcc = findNvcc(options);
  if (nvcc === undefined) {
    const cached = findCachedBinary(options);
    if (cached !== undefined) return { path: cached, hash: path.basename(path.dirname(cached)), compiled: false, compileSeconds: 0 };
    throw new NvccNotFoundError(options.nvcc !== undefined ? [options.nvcc] : nvccCandidates(options.environment ?? cudaEnvironment()));
  }
  const text = await readFile(source, 'utf8');
  const flags = [...NVCC_FLAGS, ...(options.gencode ?? DEFAULT_GENCODE)];
  const version = nvccVersion(nvcc);
  const hash = cudaBuildHash(text, version, flags);
  const dir = path.join(cacheRoot(options), hash);
  const binary = path.join(dir, BINARY);
  if (await isFile(binary)) return { path: binary, hash, compiled: false, compileSeconds: 0 };
  let pending = building.get(binary);
  if (pending === undefined) {
    pending = underBuildLock(dir, binary, () => compile(nvcc, flags, text, source, dir, binary, { sourceSha256: sha256(text), nvccVersion: version, flags, builtAt: '' })).finally(() => building.delete(binary));
    building.set(binary, pending);
  }
  return { ...(await pending), hash };
}

/** A lock older than this belongs to a build that died without removing it. nvcc takes well under it. */
const STALE_LOCK_MS = 15 * 60_000;

/**
 * Runs `build` holding `<dir>/.lock` (created exclusively), so that the shards of a run starting on one
 * host at once compile once: the others wait for the binary (or for the lock to go, and then build).
 */
async function underBuildLock(dir: string, binary: string, build: () => Promise<CudaBinary>): Promise<CudaBinary> {
  await mkdir(dir, { recursive: true });
  const lock = path.join(dir, '.lock');
  for (;;) {
    let handle;
    try {
      handle = await open(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (await isFile(binary)) return { path: binary, hash: '', compiled: false, compileSeconds: 0 };
      const age = Date.now() - (await stat(lock).then((st) => st.mtimeMs, () => Date.now()));
      if (age > STALE_LOCK_MS) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      // Built by another process between our cache check and the lock.
      if (await isFile(binary)) return { path: binary, hash: '', compiled: false, compileSeconds: 0 };
      return await build();
    } finally {
      await handle.close();
      await rm(lock, { force: true });
    }
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

async function compile(nvcc: string, flags: string[], text: string, source: string, dir: string, binary: string, record: BuildRecord): Promise<CudaBinary> {
  await mkdir(dir, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(dir, `.${BINARY}.${tag}.tmp`);
  // nvcc compiles a copy of the source we hashed, so an edit during the build cannot slip past the hash.
  const copy = path.join(dir, `.${BINARY}.${tag}.cu`);
  const command = [nvcc, ...flags, '-o', tmp, copy];
  const started = performance.now();
  try {
    await writeFile(copy, text);
    const { code, output, error } = await run(command);
    if (code !== 0) throw new CudaBuildError([nvcc, ...flags, '-o', binary, source], code, output, { cause: error });
    await rename(tmp, binary);
    const recTmp = path.join(dir, `.build.${tag}.json`);
    await writeFile(recTmp, JSON.stringify({ ...record, builtAt: new Date().toISOString() }, null, 2));
    await rename(recTmp, path.join(dir, 'build.json'));
  } finally {
    await rm(tmp, { force: true });
    await rm(copy, { force: true });
  }
  return { path: binary, hash: '', compiled: true, compileSeconds: (performance.now() - started) / 1000 };
}

function run(command: string[]): Promise<{ code: number | null; output: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (d: Buffer) => {
      if (output.length < 1 << 20) output += d.toString();
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.once('error', (error) => resolve({ code: null, output: `${output}${String(error)}`, error }));
    child.once('close', (code) => resolve({ code, output }));
  });
}
