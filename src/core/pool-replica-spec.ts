import type { JobSpec } from './job-spec.js';
import type { Pool } from './pool-spec.js';

/**
 * What a pool replica runs (ADR 0016): an ordinary exec job whose program is the replica host, which starts
 * the pool's worker and feeds it tasks. The agent resolves the program name to its own copy of the host
 * (agent/pool-replica-launch.ts), so servers and agents need not share an installation path.
 */
export const POOL_HOST_PROGRAM = 'gpuq-pool-host';
/** The label every replica job carries: its pool's name. */
export const POOL_LABEL = 'gpuq.pool';

/** The job queue of a pool's replicas. */
export function replicaQueue(pool: string): string {
  return `pool.${pool}`;
}

/** The job spec of one replica of the pool's current generation. */
export function replicaJobSpec(pool: Pool): JobSpec {
  const s = pool.spec;
  return {
    name: `pool:${pool.name}`,
    queue: replicaQueue(pool.name),
    type: 'exec',
    command: [
      POOL_HOST_PROGRAM,
      '--pool',
      pool.name,
      '--concurrency',
      String(s.concurrency),
      '--task-timeout-ms',
      String(Math.round(s.taskTimeoutSeconds * 1000)),
      '--start-timeout-ms',
      String(Math.round(s.startTimeoutSeconds * 1000)),
      '--grace-ms',
      String(Math.round(s.graceSeconds * 1000)),
      s.memoryPolicy.killOnOom ? '--kill-on-oom' : '--no-kill-on-oom',
      '--',
      ...s.command,
    ],
    env: { ...s.env },
    ...(s.cwd !== undefined ? { cwd: s.cwd } : {}),
    gpus: s.gpus,
    cpus: s.cpus,
    memoryMb: s.memoryMb,
    // Replicas go before queued jobs of the default priority: a pool that scales up is serving waiting tasks.
    priority: 0,
    // A replica is never retried as a job: the pool controller starts a fresh one, with its own backoff.
    maxAttempts: 1,
    backoff: s.backoff,
    labels: { [POOL_LABEL]: pool.name, 'gpuq.pool.generation': String(pool.generation) },
    nodeSelector: { ...s.nodeSelector },
    dependsOn: [],
  };
}
