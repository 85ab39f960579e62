import { slotsOf, type JobSpec } from '../../core/job-spec.js';
import type { NodeCapacity, QueuedJob } from '../../core/scheduler/snapshot.js';
import { schedulability } from '../node-schedulability.js';
import type { AssignedAttempt, Placement } from '../store.js';
import type { Sql } from './postgres-pool.js';
import { LIVE_ATTEMPT, unique } from './shared-sql.js';

/**
 * Scheduling: the snapshot the scheduler plans on, and applyPlan, which turns
 * a plan into attempts.
 *
 * Several control-plane replicas may apply plans at once, made from snapshots
 * that overlap. applyPlan therefore re-checks every placement against the
 * database under row locks, in the store's lock order:
 *   1. the placed jobs, FOR NO KEY UPDATE SKIP LOCKED: a job another replica is
 *      placing (or cancelling) right now is skipped, as stale, without waiting;
 *      one it already placed is no longer queued and is skipped too;
 *   2. the target nodes, FOR NO KEY UPDATE, in id order: appliers onto one node
 *      take turns, so the devices and run slots each one reads (in the next
 *      statement, which under READ COMMITTED sees every plan committed before the
 *      lock was granted) stay true until it commits.
 * The primary key of device_holds and the unique index on live attempts per job
 * (0001-init.sql) back this up: a bug here fails the transaction rather than
 * double-booking a GPU. NO KEY UPDATE is the weakest lock two appliers
 * conflict on; it leaves foreign-key checks (KEY SHARE) unblocked.
 */

/**
 * Every node with its healthy devices, the devices live attempts hold, and what live attempts reserve.
 * Parameters: none.
 */
const SELECT_NODE_CAPACITY = `SELECT n.id, n.labels, n.cpus, n.memory_mb, n.max_running, n.state, n.admin_state,
    coalesce((SELECT array_agg(d.device_index ORDER BY d.device_index) FROM devices d WHERE d.node_id = n.id AND d.healthy), '{}') AS devices,
    coalesce((SELECT array_agg(h.device_index) FROM device_holds h WHERE h.node_id = n.id), '{}') AS held,
    coalesce(r.cpus, 0) AS cpus_held, coalesce(r.memory_mb, 0) AS memory_held, coalesce(r.slots, 0) AS slots_held
  FROM nodes n
  LEFT JOIN (SELECT node_id, sum(cpus) AS cpus, sum(memory_mb)::bigint AS memory_mb, sum(slots)::int AS slots FROM attempts WHERE ${LIVE_ATTEMPT} GROUP BY node_id) r
    ON r.node_id = n.id`;
const SELECT_ALL_NODE_CAPACITY = `${SELECT_NODE_CAPACITY} ORDER BY n.id`;
/** Parameters: node ids text[]. */
const SELECT_SOME_NODE_CAPACITY = `${SELECT_NODE_CAPACITY} WHERE n.id = ANY($1::text[])`;
/** Runnable queued jobs in scheduling order (jobs_runnable). Parameters: now, limit. */
const SELECT_RUNNABLE = `SELECT id, queue, type, priority, gpus, cpus, memory_mb, node_selector, created_at FROM jobs
  WHERE state = 'queued' AND deps_unmet = 0 AND not_before <= $1 ORDER BY priority DESC, id ASC LIMIT $2`;

/** Step 1 of applyPlan. Parameters: job ids bigint[]. */
const LOCK_QUEUED_JOBS = `SELECT id, type, attempts, gpus, cpus, memory_mb, spec, created_at FROM jobs
  WHERE id = ANY($1::bigint[]) AND state = 'queued' AND deps_unmet = 0 ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`;
/** Step 2 of applyPlan: the nodes that take new work (up, and neither cordoned nor draining: node-schedulability.ts). Parameters: node ids text[]. */
const LOCK_UP_NODES = `SELECT id FROM nodes WHERE id = ANY($1::text[]) AND state = 'up' AND admin_state = 'active' ORDER BY id FOR NO KEY UPDATE`;
/**
 * Writes the accepted placements: attempts, device holds, the jobs' new state and their events, in one statement.
 * Parameters: job_id bigint[], number int[], node_id text[], devices (JSON text[]), cpus float8[], memory_mb bigint[],
 * slots int[], now, lease_expires_at.
 */
const WRITE_PLACEMENTS = `WITH p AS (
    SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::float8[], $6::bigint[], $7::int[])
      AS p(job_id, number, node_id, devices, cpus, memory_mb, slots)
  ), attempt AS (
    INSERT INTO attempts (job_id, number, node_id, devices, cpus, memory_mb, slots, state, assigned_at, lease_expires_at)
    SELECT job_id, number, node_id, devices::jsonb, cpus, memory_mb, slots, 'assigned', $8, $9 FROM p
    RETURNING id, job_id, node_id, devices
  ), holds AS (
    INSERT INTO device_holds (node_id, device_index, attempt_id)
    SELECT a.node_id, d.device_index::int, a.id FROM attempt a CROSS JOIN LATERAL jsonb_array_elements_text(a.devices) AS d(device_index)
  ), assigned AS (
    UPDATE jobs j SET state = 'assigned', attempts = p.number, node_id = p.node_id, devices = p.devices::jsonb, updated_at = $8, reason = NULL
    FROM p WHERE j.id = p.job_id
  ), events AS (
    INSERT INTO job_events (job_id, attempt, from_state, to_state, at, reason)
    SELECT job_id, number, 'queued', 'assigned', $8, NULL FROM p
  )
  SELECT id, job_id FROM attempt`;

interface CapacityRow {
  id: string;
  labels: Record<string, string>;
  cpus: number;
  memory_mb: number;
  max_running: number;
  state: string;
  admin_state: string;
  devices: number[];
  held: number[];
  cpus_held: number;
  memory_held: number;
  slots_held: number;
}
interface RunnableRow {
  id: number;
  queue: string;
  type: JobSpec['type'];
  priority: number;
  gpus: number;
  cpus: number;
  memory_mb: number;
  node_selector: Record<string, string>;
  created_at: number;
}
interface PlacementJobRow {
  id: number;
  type: JobSpec['type'];
  attempts: number;
  gpus: number;
  cpus: number;
  memory_mb: number;
  spec: JobSpec;
  created_at: number;
}

/** In a read transaction, so the nodes and the queue are one snapshot. */
export async function schedulingSnapshot(sql: Sql, now: number, limit: number): Promise<{ nodes: NodeCapacity[]; queued: QueuedJob[] }> {
  const nodes = (await sql.query<CapacityRow>(SELECT_ALL_NODE_CAPACITY)).map((n): NodeCapacity => {
    const held = new Set(n.held);
    return {
      id: n.id,
      labels: n.labels,
      ...schedulability(n.state, n.admin_state),
      devices: n.devices,
      freeDevices: n.devices.filter((d) => !held.has(d)),
      cpusTotal: n.cpus,
      cpusFree: n.cpus - n.cpus_held,
      memoryTotalMb: n.memory_mb,
      memoryFreeMb: n.memory_mb - n.memory_held,
      slotsTotal: n.max_running,
      slotsFree: n.max_running - n.slots_held,
    };
  });
  const queued = (await sql.query<RunnableRow>(SELECT_RUNNABLE, [now, limit])).map(
    (j): QueuedJob => ({
      id: j.id,
      queue: j.queue,
      priority: j.priority,
      gpus: j.gpus,
      cpus: j.cpus,
      memoryMb: j.memory_mb,
      slots: slotsOf(j.type),
      nodeSelector: j.node_selector,
      createdAt: j.created_at,
    }),
  );
  return { nodes, queued };
}

/**
 * In a write transaction. A placement is applied when its job is still queued (and not being placed by
 * another replica), it names exactly the job's number of distinct devices, its node is up and active (not cordoned or draining), the devices
 * are healthy and free, and the node has a run slot for it; placements earlier in the same call count.
 */
export async function applyPlan(sql: Sql, placements: Placement[], now: number, leaseMs: number): Promise<AssignedAttempt[]> {
  if (placements.length === 0) return [];
  const jobs = new Map((await sql.query<PlacementJobRow>(LOCK_QUEUED_JOBS, [unique(placements.map((p) => p.jobId))])).map((j) => [j.id, j]));
  const wanted = unique(placements.filter((p) => jobs.has(p.jobId)).map((p) => p.nodeId));
  if (wanted.length === 0) return [];
  const locked = (await sql.query<{ id: string }>(LOCK_UP_NODES, [wanted])).map((n) => n.id);
  if (locked.length === 0) return [];
  const nodes = new Map(
    (await sql.query<CapacityRow>(SELECT_SOME_NODE_CAPACITY, [locked])).map((n) => [n.id, { usable: new Set(n.devices), held: new Set(n.held), freeSlots: n.max_running - n.slots_held }]),
  );

  const accepted: { p: Placement; job: PlacementJobRow; slots: number }[] = [];
  const placed = new Set<number>();
  for (const p of placements) {
    const job = jobs.get(p.jobId);
    if (!job || placed.has(p.jobId)) continue;
    if (p.devices.length !== job.gpus || new Set(p.devices).size !== p.devices.length) continue;
    const node = nodes.get(p.nodeId);
    if (!node || !p.devices.every((d) => node.usable.has(d) && !node.held.has(d))) continue;
    const slots = slotsOf(job.type);
    if (slots > node.freeSlots) continue;
    node.freeSlots -= slots;
    for (const d of p.devices) node.held.add(d);
    placed.add(p.jobId);
    accepted.push({ p, job, slots });
  }
  if (accepted.length === 0) return [];

  const leaseExpiresAt = now + leaseMs;
  const col = <T>(f: (a: (typeof accepted)[number]) => T): T[] => accepted.map(f);
  const rows = await sql.query<{ id: number; job_id: number }>(WRITE_PLACEMENTS, [
    col((a) => a.p.jobId), col((a) => a.job.attempts + 1), col((a) => a.p.nodeId), col((a) => JSON.stringify(a.p.devices)),
    col((a) => a.job.cpus), col((a) => a.job.memory_mb), col((a) => a.slots), now, leaseExpiresAt,
  ]);
  const attemptOf = new Map(rows.map((r) => [r.job_id, r.id]));
  return accepted.map(({ p, job }) => ({
    attemptId: attemptOf.get(p.jobId)!,
    jobId: p.jobId,
    number: job.attempts + 1,
    nodeId: p.nodeId,
    devices: [...p.devices],
    spec: job.spec,
    jobCreatedAt: job.created_at,
    leaseExpiresAt,
  }));
}
