/**
 * The CUDA engine: a Monte Carlo risk run, or a range of its blocks, on an NVIDIA GPU (ADR 0010).
 *
 * The simulation is risk-engine.cu, compiled on first use (cuda-build.ts) and run as a child process:
 * this side writes a params file, the binary simulates, reduces per block, selects the range's largest
 * losses on the device and writes one output file, which becomes the same RangeOutput the CPU engine
 * returns (engine.ts), so finishRun reduces either, or both in one sharded run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runWhole, type RangeOutput, type RiskRunResult } from '../engine.js';
import type { SimulationModel } from '../model.js';
import type { Portfolio, PortfolioInput } from '../portfolio.js';
import type { HistogramSpec } from '../tail-merge.js';
import { buildCudaEngine, cudaSourcePath, findCachedBinary, findNvcc, type CudaBuildOptions } from './cuda-build.js';
import { cudaEnvironment } from './cuda-environment.js';
import { CudaEngineError } from './cuda-errors.js';
import { CUDA_LIMITS, cudaUnsupported, decodeOutput, encodeParams } from './engine-io.js';

export interface CudaEngineOptions extends CudaBuildOptions {
  /** Blocks of paths per kernel launch; device memory grows by 8 KiB per block of it. @default 16384 (16.8 M paths) */
  chunkBlocks?: number;
  /** CUDA device ordinal, among those CUDA_VISIBLE_DEVICES leaves visible. @default 0 */
  device?: number;
  /** Where the params and output files are written (removed afterwards). @default os.tmpdir() */
  tmpDir?: string;
  /**
   * Run the binary's CPU emulation of the kernels instead of a GPU: one thread, for tests on machines
   * without one. The stream layout and the reduce are the GPU's; the normals' last bits are libm's.
   * @default false
   */
  emulate?: boolean;
}

export type { RiskRunResult } from '../engine.js';

/** 8 KiB of device memory per block of a chunk (its losses as candidate tail keys). */
const DEFAULT_CHUNK_BLOCKS = 16384;

/**
 * Whether this process can use the CUDA engine: a GPU is visible (the NVIDIA driver's /dev/nvidiactl
 * exists and CUDA_VISIBLE_DEVICES does not hide every device), the engine's source is there, and it
 * can be built (nvcc) or is cached. Cheap (file checks only, no CUDA call); the binary itself reports a missing device.
 * `driverNode`: the driver's control device (a parameter for tests).
 */
export function cudaAvailable(options: CudaEngineOptions = {}, driverNode = '/dev/nvidiactl'): { ok: true } | { ok: false; reason: string } {
  const env = options.environment ?? cudaEnvironment();
  if (!existsSync(driverNode)) return { ok: false, reason: `no CUDA device is present (${driverNode} missing: no NVIDIA driver or GPU)` };
  const visible = env.visibleDevices?.trim();
  if (visible === '' || visible === '-1' || visible === 'none' || visible === 'void') return { ok: false, reason: `CUDA_VISIBLE_DEVICES="${env.visibleDevices}" hides every GPU` };
  try {
    cudaSourcePath(options);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (findNvcc({ ...options, environment: env }) === undefined && findCachedBinary({ ...options, environment: env }) === undefined) {
    return { ok: false, reason: 'nvcc was not found (PATH, CUDA_HOME, /usr/local/cuda) and no compiled CUDA risk engine is cached' };
  }
  return { ok: true };
}

/** Validates `input` (throwing PortfolioValidationError before anything runs), simulates on the GPU, and summarizes. */
export function runRiskCuda(input: PortfolioInput | Portfolio, options: CudaEngineOptions = {}): Promise<RiskRunResult> {
  return runWhole(input, (model, keep, hist, first, end) => simulateRangeCuda(model, keep, hist, first, end, options));
}

/**
 * Simulates blocks [firstBlock, endBlock) of a run on the GPU, keeping the range's `keep` largest
 * losses: one shard job's work, or a whole run's. Compiles the engine first if it is not cached.
 */
export async function simulateRangeCuda(model: SimulationModel, keep: number, hist: HistogramSpec, firstBlock: number, endBlock: number, options: CudaEngineOptions = {}): Promise<RangeOutput> {
  return (await simulateRangeCudaTimed(model, keep, hist, firstBlock, endBlock, options)).output;
}

/** Where the binary's time went (its stdout line); the CPU emulation reports `seconds` only. */
export interface CudaTiming {
  seconds: number;
  simulateSeconds?: number;
  selectSeconds?: number;
  finishSeconds?: number;
  selections?: number;
  chunks?: number;
  keep?: number;
  emulated?: boolean;
}

/** simulateRangeCuda, with the binary's breakdown of its time (for benchmarks). */
export async function simulateRangeCudaTimed(
  model: SimulationModel,
  keep: number,
  hist: HistogramSpec,
  firstBlock: number,
  endBlock: number,
  options: CudaEngineOptions = {},
): Promise<{ output: RangeOutput; timing: CudaTiming }> {
  if (!(Number.isInteger(firstBlock) && Number.isInteger(endBlock) && firstBlock >= 0 && firstBlock < endBlock && endBlock <= model.blocks)) {
    throw new RangeError(`blocks [${firstBlock}, ${endBlock}) are not a non-empty range of the run's ${model.blocks}`);
  }
  const unsupported = cudaUnsupported(model, hist);
  if (unsupported !== undefined) throw new RangeError(unsupported);
  // The binary keeps min(keep, the range's paths) losses and refuses more than 2^31 (exit 6): say so before building it.
  const rangeKeep = Math.min(keep, Math.min(model.paths, endBlock * model.blockSize) - firstBlock * model.blockSize);
  if (rangeKeep > CUDA_LIMITS.keep) throw new RangeError(`the CUDA engine keeps at most 2^31 tail losses per range, this range needs ${rangeKeep}`);
  const chunkBlocks = options.chunkBlocks ?? DEFAULT_CHUNK_BLOCKS;
  if (!(Number.isInteger(chunkBlocks) && chunkBlocks >= 1)) throw new RangeError(`chunkBlocks must be a positive integer, got ${chunkBlocks}`);
  const binary = await buildCudaEngine(options);
  const dir = await mkdtemp(path.join(options.tmpDir ?? tmpdir(), 'gpuq-cuda-'));
  try {
    const params = path.join(dir, 'params.txt');
    const output = path.join(dir, 'output.bin');
    await writeFile(params, encodeParams(model, keep, hist, firstBlock, endBlock, chunkBlocks));
    const args = ['run', params, output, '--device', String(options.device ?? 0), ...(options.emulate ? ['--emulate'] : [])];
    const stdout = await runBinary(binary.path, args);
    const out = decodeOutput(await readFile(output));
    if (out.firstBlock !== firstBlock || out.endBlock !== endBlock) throw new Error(`the CUDA engine answered for blocks [${out.firstBlock}, ${out.endBlock}), not [${firstBlock}, ${endBlock})`);
    const line = stdout.split('\n').find((l) => l.startsWith('{'));
    return {
      output: {
        engine: 'cuda',
        device: out.device,
        firstBlock,
        endBlock,
        shards: [{ firstBlock, endBlock, paths: out.paths, blockStats: out.blockStats, histogram: out.histogram }],
        tails: [out.tail],
        seconds: out.seconds,
      },
      timing: line === undefined ? { seconds: out.seconds } : (JSON.parse(line) as CudaTiming),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the engine binary; rejects with CudaEngineError (its stderr) unless it exits 0. */
export function runBinary(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 1 << 16) stderr += d.toString();
    });
    child.once('error', (error) => reject(new CudaEngineError(null, null, `cannot run ${binary}: ${error.message}`, { cause: error })));
    child.once('close', (code, signal) => (code === 0 ? resolve(stdout) : reject(new CudaEngineError(code, signal, stderr))));
  });
}
