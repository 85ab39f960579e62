import { fileURLToPath } from 'node:url';
import { POOL_HOST_PROGRAM } from '../core/pool-replica-spec.js';

/** This installation's replica host (src/pools/host-main.ts), beside the agent in the build. */
const HOST_MAIN = fileURLToPath(new URL('../pools/host-main.js', import.meta.url));

/**
 * How the agent starts a pool replica (ADR 0016): the job's program `gpuq-pool-host` becomes this
 * installation's replica host run by this Node.js, and the host learns where the control plane is and
 * its attempt's credential from its environment. Any other job is returned as it is.
 */
export function replicaLaunch(argv: string[], env: Readonly<Record<string, string>>, credential: string | undefined, apiUrls: readonly string[]): { argv: string[]; env: Readonly<Record<string, string>> } {
  if (argv[0] !== POOL_HOST_PROGRAM) return { argv, env };
  return {
    argv: [process.execPath, HOST_MAIN, ...argv.slice(1)],
    env: { ...env, GPUQ_API_URL: apiUrls.join(','), GPUQ_POOL_CREDENTIAL: credential ?? '' },
  };
}
