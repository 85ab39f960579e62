import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AssignedAttempt } from '../../store/store.js';
import { POOL_HOST_PROGRAM } from '../../core/pool-replica-spec.js';

/**
 * A pool replica's credential (ADR 0016): HMAC-SHA256 of `jobId:attemptId` under the cluster's pool key
 * (kept in the store, the same for every server). The control plane hands it to the replica's agent with
 * the assignment, the agent to the replica host in its environment; it is never stored, and it is good
 * only for that one attempt, so a replica that was reclaimed or replaced cannot speak for its successor.
 */
export class ReplicaCredentials {
  constructor(private readonly key: string) {}

  credentialOf(jobId: number, attemptId: number): string {
    return createHmac('sha256', this.key).update(`${jobId}:${attemptId}`).digest('hex');
  }

  /** Whether `presented` is the credential of that attempt (compared in constant time). */
  verify(jobId: number, attemptId: number, presented: string): boolean {
    const expected = Buffer.from(this.credentialOf(jobId, attemptId));
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** Assignments with the credential of each replica attempt among them added (other attempts unchanged). */
  withCredentials(attempts: AssignedAttempt[]): AssignedAttempt[] {
    return attempts.map((a) => (a.spec.command?.[0] === POOL_HOST_PROGRAM ? { ...a, poolCredential: this.credentialOf(a.jobId, a.attemptId) } : a));
  }
}
