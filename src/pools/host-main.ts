#!/usr/bin/env node
import { systemClock } from '../core/clock.js';
import { HOST_EXIT } from './protocol.js';
import { HOST_USAGE, parseHostArgs } from './host-args.js';
import { HttpReplicaLink } from './host-link.js';
import { ReplicaHost } from './replica-host.js';
import { workerEnv } from './worker-process.js';

/**
 * The replica host's program (dist/pools/host-main.js): a pool replica's job runs it in place of
 * `gpuq-pool-host`, in the job's process group, with the attempt's log file as its stdout and stderr.
 * Like the launcher, it is a program of its own: it reads its environment here, once
 * (gpuq-allow-env: the attempt's GPUQ_* variables are its configuration, and the worker inherits the rest).
 * Exit statuses: protocol.ts HOST_EXIT.
 */

const env = process.env;
const config = parseHostArgs(process.argv.slice(2), env);
if ('error' in config) {
  process.stderr.write(`gpuq-pool-host: ${config.error}\n${HOST_USAGE}\n`);
  process.exit(HOST_EXIT.usage);
}

const log = (line: string): void => void process.stderr.write(`gpuq-pool-host: ${line}\n`);
const host = new ReplicaHost({
  pool: config.pool,
  worker: {
    argv: config.workerArgv,
    env: workerEnv(env, { GPUQ_POOL: config.pool, GPUQ_POOL_CONCURRENCY: String(config.concurrency) }),
  },
  concurrency: config.concurrency,
  taskTimeoutMs: config.taskTimeoutMs,
  startTimeoutMs: config.startTimeoutMs,
  graceMs: config.graceMs,
  killOnOom: config.killOnOom,
  link: new HttpReplicaLink({ urls: config.urls, credential: config.credential, pool: config.pool, jobId: config.jobId, attemptId: config.attemptId, clock: systemClock, log }),
  clock: systemClock,
  log,
});
// The agent's SIGTERM (eviction, cancel) reaches the whole group, the worker too; Ctrl-C in a terminal the same.
process.on('SIGTERM', () => host.terminate());
process.on('SIGINT', () => host.terminate());
host.run().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(HOST_EXIT.crashed);
  },
);
