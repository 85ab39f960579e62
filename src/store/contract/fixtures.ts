import { expect } from 'vitest';
import { parseJobSpec, type JobSpec, type JobSpecInput } from '../../core/job-spec.js';
import { decideAfterAttempt, type AttemptEnd } from '../../core/retry-policy.js';
import type { Device, NodeInfo } from '../../core/types.js';
import type { DecideFn, Store } from '../store.js';

/** Shared data and steps of the Store contract suite. Times are fixed; nothing here reads a clock. */

export const T0 = 1_700_000_000_000;
export const LEASE_MS = 30_000;
/** The random input of the real retry decision, fixed so backoffs are exact. */
export const RANDOM = 0.5;

export function spec(input: Partial<JobSpecInput> = {}): JobSpec {
  return parseJobSpec({ type: 'noop', ...input });
}

export function device(index: number, healthy = true): Device {
  return { index, uuid: `GPU-${index}`, name: 'Fake GPU', simulated: true, memoryTotalMb: 81_920, pciBusId: null, healthy };
}

export function node(id: string, gpus: number, over: Partial<NodeInfo> = {}): NodeInfo {
  return {
    id,
    hostname: `${id}.local`,
    labels: {},
    cpus: 16,
    memoryMb: 65_536,
    maxRunning: 64,
    devices: Array.from({ length: gpus }, (_, i) => device(i)),
    incarnation: 'inc-1',
    lastHeartbeatAt: T0,
    state: 'up',
    adminState: 'active',
    hostMemory: null,
    ...over,
  };
}

/** The real retry decision at a fixed time. */
export function decideAt(now: number): DecideFn {
  return (job, end) => decideAfterAttempt(job, end, now, RANDOM);
}

export const SUCCEEDED: AttemptEnd = { state: 'succeeded', retryable: false, reason: 'exited 0' };
export const FAILED: AttemptEnd = { state: 'failed', retryable: true, reason: 'exited 1' };
export const CANCELLED: AttemptEnd = { state: 'cancelled', retryable: false, reason: 'killed on cancel' };

export async function submit(store: Store, input: Partial<JobSpecInput> = {}, now = T0): Promise<number> {
  const [outcome] = await store.submitJobs([spec(input)], now);
  if (!outcome) throw new Error('submitJobs returned nothing');
  return outcome.job.id;
}

/** Places one job and expects the placement to be applied; returns the attempt id. */
export async function assign(store: Store, jobId: number, nodeId: string, devices: number[], now = T0): Promise<number> {
  const [assigned] = await store.applyPlan([{ jobId, nodeId, devices }], now, LEASE_MS);
  expect(assigned?.jobId).toBe(jobId);
  return assigned!.attemptId;
}

/** Places a job and reports its process started; returns the attempt id. */
export async function start(store: Store, jobId: number, nodeId: string, devices: number[], now = T0): Promise<number> {
  const attemptId = await assign(store, jobId, nodeId, devices, now);
  const [r] = await store.markRunning([{ attemptId, pid: 4242, logPath: `/logs/${attemptId}.log`, startedAt: now }], now);
  expect(r?.accepted).toBe(true);
  return attemptId;
}

export async function end(store: Store, attemptId: number, how: AttemptEnd, now: number, exitCode: number | null = null) {
  const [r] = await store.endAttempts([{ attemptId, end: how, exitCode, signal: null, endedAt: now }], decideAt(now), now);
  return r!;
}

/** Runs one attempt of a job that fails for good: the job ends `failed` in the DLQ. */
export async function failToDlq(store: Store, jobId: number, nodeId: string, now = T0): Promise<void> {
  const attemptId = await start(store, jobId, nodeId, [], now);
  const r = await end(store, attemptId, { ...FAILED, retryable: false }, now);
  expect(r.jobState).toBe('failed');
}

export async function freeDevices(store: Store, nodeId: string, now = T0): Promise<number[] | undefined> {
  const snap = await store.schedulingSnapshot(now, 1);
  return snap.nodes.find((n) => n.id === nodeId)?.freeDevices;
}

export async function queuedIds(store: Store, now: number, limit = 1000): Promise<number[]> {
  return (await store.schedulingSnapshot(now, limit)).queued.map((q) => q.id);
}
