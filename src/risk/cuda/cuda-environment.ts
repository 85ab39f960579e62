/**
 * gpuq-allow-env: the CUDA engine's defaults come from variables that CUDA tooling and the XDG base
 * directory spec define, not from gpuq's own configuration: PATH and CUDA_HOME/CUDA_PATH (where nvcc
 * is), XDG_CACHE_HOME (where compiled binaries are cached) and CUDA_VISIBLE_DEVICES (the GPUs the
 * process may use, as gpuq's agent sets it for a job). They are read here, in one place; everything
 * else in src/risk/cuda takes them as options.
 */
import { homedir } from 'node:os';
import path from 'node:path';

export interface CudaEnvironment {
  /** PATH, split. */
  searchPath: string[];
  /** The CUDA toolkit: CUDA_HOME or CUDA_PATH, else /usr/local/cuda (the installers' default); undefined: none. */
  cudaHome: string | undefined;
  /** $XDG_CACHE_HOME, else ~/.cache. */
  cacheHome: string;
  /** CUDA_VISIBLE_DEVICES as set (undefined: unset, every GPU visible). */
  visibleDevices: string | undefined;
}

export function cudaEnvironment(env: NodeJS.ProcessEnv = process.env): CudaEnvironment {
  const xdg = env.XDG_CACHE_HOME;
  return {
    searchPath: (env.PATH ?? '').split(path.delimiter).filter((p) => p !== ''),
    cudaHome: env.CUDA_HOME || env.CUDA_PATH || '/usr/local/cuda',
    // The XDG spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
    cacheHome: xdg && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache'),
    visibleDevices: env.CUDA_VISIBLE_DEVICES,
  };
}
