/**
 * The bounds of pools and their tasks. A module of its own, free of zod, so that the replica host (src/pools/),
 * a process started for every replica, loads no schema library at start.
 */
export const POOL_LIMITS = Object.freeze({
  maxReplicas: 1000,
  maxConcurrency: 1024,
  /** Bytes of a task's JSON payload, and of a worker's JSON result. */
  maxPayloadBytes: 1024 * 1024,
  /** Tasks in one submit. */
  maxBatch: 5000,
  maxIdempotencyKeyBytes: 256,
  /** Tasks a replica claims in one exchange with the control plane. */
  maxClaim: 1024,
});
