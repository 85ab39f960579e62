/**
 * The CUDA engine's failures. They carry core's `INTERNAL` code (an HTTP 500 at the API edge): none is
 * the caller's input error, and core/errors.ts has no CUDA-specific code yet.
 */
import { GpuqError } from '../../core/errors.js';

/** No nvcc was found and no binary built from this source is cached: the engine cannot be built here. */
export class NvccNotFoundError extends GpuqError {
  readonly searched: string[];
  constructor(searched: string[]) {
    super('INTERNAL', `nvcc (the CUDA compiler) was not found (looked in ${searched.join(', ')}) and no compiled CUDA risk engine is cached: install the CUDA toolkit, put nvcc on PATH or set CUDA_HOME, or pass the nvcc option`);
    this.searched = searched;
  }
}

/** nvcc ran and failed (or could not start); `output` is what it printed. */
export class CudaBuildError extends GpuqError {
  readonly command: string[];
  readonly exitCode: number | null;
  readonly output: string;
  constructor(command: string[], exitCode: number | null, output: string, options?: { cause?: unknown }) {
    super('INTERNAL', `compiling the CUDA risk engine failed (${command.join(' ')} exited with ${exitCode ?? 'no code'}):\n${output.trim()}`, options);
    this.command = command;
    this.exitCode = exitCode;
    this.output = output;
  }
}

/** Why the engine binary stopped, from its exit code (risk-engine.cu lists them). */
export type CudaFailure = 'usage' | 'no-device' | 'cuda-error' | 'io' | 'too-big' | 'crashed';

export const EXIT_CODES: Readonly<Record<number, CudaFailure>> = Object.freeze({ 2: 'usage', 3: 'no-device', 4: 'cuda-error', 5: 'io', 6: 'too-big' });

/**
 * The engine binary failed: `failure` says how (`no-device`: no GPU or no driver; `cuda-error`: a CUDA
 * call failed; `too-big`: the run does not fit the device's memory), `stderr` what it printed.
 */
export class CudaEngineError extends GpuqError {
  readonly failure: CudaFailure;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;
  constructor(exitCode: number | null, signal: string | null, stderr: string, options?: { cause?: unknown }) {
    const failure = (exitCode !== null && EXIT_CODES[exitCode]) || 'crashed';
    const how = signal !== null ? `was killed by ${signal}` : `exited with ${exitCode}`;
    super('INTERNAL', `the CUDA risk engine ${how}: ${stderr.trim() || '(no message)'}`, options);
    this.failure = failure;
    this.exitCode = exitCode;
    this.signal = signal;
    this.stderr = stderr;
  }
}
