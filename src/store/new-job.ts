import type { JobOwner } from '../core/access.js';
import type { JobSpec } from '../core/job-spec.js';
import type { Job } from '../core/types.js';

/** The job a submit just inserted, built from its spec: the submit path reads nothing back, on any database. */
export function newJob(id: number, spec: JobSpec, now: number, owner: JobOwner | null): Job {
  return {
    id,
    name: spec.name,
    queue: spec.queue,
    type: spec.type,
    state: 'queued',
    priority: spec.priority,
    gpus: spec.gpus,
    spec,
    attempts: 0,
    attemptLimit: spec.maxAttempts,
    notBefore: now,
    inDlq: false,
    reason: null,
    nodeId: null,
    devices: [],
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    owner: owner?.name ?? null,
    ownerTokenId: owner?.tokenId ?? null,
  };
}
