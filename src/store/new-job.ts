import type { JobOwner } from '../core/access.js';
import type { JobSpec } from '../core/job-spec.js';
import type { Job } from '../core/types.js';

/**
 * The job a submit just inserted, built from its spec: the submit path reads nothing back, on any database.
 * `failedBecause`: a dependency had already failed or been cancelled, so the job was failed at once (into the DLQ).
 */
export function newJob(id: number, spec: JobSpec, now: number, owner: JobOwner | null, failedBecause: string | null = null): Job {
  return {
    id,
    name: spec.name,
    queue: spec.queue,
    type: spec.type,
    state: failedBecause === null ? 'queued' : 'failed',
    priority: spec.priority,
    gpus: spec.gpus,
    spec,
    attempts: 0,
    attemptLimit: spec.maxAttempts,
    notBefore: now,
    inDlq: failedBecause !== null,
    reason: failedBecause,
    nodeId: null,
    devices: [],
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: failedBecause === null ? null : now,
    owner: owner?.name ?? null,
    ownerTokenId: owner?.tokenId ?? null,
  };
}

/**
 * A spec read back from the store, with the fields added to the spec since it was stored filled in with
 * their defaults (jobs submitted before gpuq knew `dependsOn` have none). Fills in place: no copy on reads.
 */
export function storedSpec<S extends Partial<Pick<JobSpec, 'dependsOn'>>>(spec: S): S & Pick<JobSpec, 'dependsOn'> {
  spec.dependsOn ??= [];
  return spec as S & Pick<JobSpec, 'dependsOn'>;
}
