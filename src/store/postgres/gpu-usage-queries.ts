import type { GpuUsage } from '../../core/gpu-usage.js';
import type { AttemptGpuUsage, DeviceHolder, IdleChange, LiveGpuUsage } from '../gpu-usage-store.js';
import { GPU_USAGE_COLUMNS, gpuUsageFromRow, type GpuUsageRow } from '../gpu-usage-row.js';
import type { Sql } from './postgres-pool.js';
import { LIVE_ATTEMPT } from './shared-sql.js';

/**
 * GPU accounting (store/gpu-usage-store.ts, migration 0010): per-GPU figures of attempts, written live and
 * with the end (a CTE of endAttempts' own statement), and the idle flag of running attempts, whose changes
 * the trigger attempts_idle_feed stages for the event feed.
 *
 * A live report locks its attempts first (FOR NO KEY UPDATE, as endAttempts' UPDATE does), and writes only
 * to those still live once it holds the locks: a live report racing the attempt's end either commits before
 * the end (which then replaces its figures) or finds the attempt ended and writes nothing.
 */

const SET_COLUMNS = `gpu_seconds = EXCLUDED.gpu_seconds, mean_utilization_pct = EXCLUDED.mean_utilization_pct,
    peak_utilization_pct = EXCLUDED.peak_utilization_pct, peak_memory_mb = EXCLUDED.peak_memory_mb, idle_seconds = EXCLUDED.idle_seconds, samples = EXCLUDED.samples`;

/** unnest of the eight usage columns from parameter `first` on, as u(attempt_id, …). */
const usageRows = (first: number): string => {
  const p = (i: number) => `$${first + i}`;
  return `unnest(${p(0)}::bigint[], ${p(1)}::int[], ${p(2)}::float8[], ${p(3)}::float8[], ${p(4)}::float8[], ${p(5)}::float8[], ${p(6)}::float8[], ${p(7)}::int[])
      AS u(attempt_id, device_index, gpu_seconds, mean_utilization_pct, peak_utilization_pct, peak_memory_mb, idle_seconds, samples)`;
};

/**
 * A CTE (named gpu_usage) for END_ATTEMPTS: records the figures of each attempt the statement ended (CTE
 * `ended`) whose report carried them, replacing live ones. Parameters from `first`: the eight arrays of
 * usageColumns.
 */
export const recordGpuUsageCte = (first: number): string => `gpu_usage AS (
    INSERT INTO attempt_gpu_usage (${GPU_USAGE_COLUMNS})
    SELECT u.* FROM ${usageRows(first)} JOIN ended e ON e.id = u.attempt_id
    ON CONFLICT (attempt_id, device_index) DO UPDATE SET ${SET_COLUMNS}
  )`;

/** The eight column arrays of a set of attempts' figures, one entry per device (a device repeated in one attempt counts once). */
export function usageColumns(entries: readonly { attemptId: number; gpuUsage?: readonly GpuUsage[] }[]): unknown[][] {
  const cols: unknown[][] = [[], [], [], [], [], [], [], []];
  for (const e of entries) {
    const seen = new Set<number>();
    for (const u of e.gpuUsage ?? []) {
      if (seen.has(u.device)) continue;
      seen.add(u.device);
      [e.attemptId, u.device, u.gpuSeconds, u.meanUtilizationPct, u.peakUtilizationPct, u.peakMemoryMb, u.idleSeconds, u.samples].forEach((v, i) => cols[i]!.push(v));
    }
  }
  return cols;
}

/** Locks the reported attempts still live on the node, in id order. Parameters: ids bigint[], node_id. */
const LOCK_LIVE_ON_NODE = `SELECT a.id, a.job_id, a.node_id, a.devices, a.idle_since, j.queue FROM attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.id = ANY($1::bigint[]) AND a.node_id = $2 AND a.${LIVE_ATTEMPT} ORDER BY a.id FOR NO KEY UPDATE OF a`;
/** Sets or clears idle flags, and writes figures. Parameters: ids bigint[], idle_since float8[], now, then the usage columns. */
const WRITE_LIVE = `WITH idle AS (
    UPDATE attempts a SET idle_since = r.idle_since, idle_changed_at = $3
    FROM unnest($1::bigint[], $2::float8[]) AS r(id, idle_since) WHERE a.id = r.id
  )
  INSERT INTO attempt_gpu_usage (${GPU_USAGE_COLUMNS})
  SELECT u.* FROM ${usageRows(4)}
  ON CONFLICT (attempt_id, device_index) DO UPDATE SET ${SET_COLUMNS}`;
/** Parameters: job_id. */
const SELECT_OF_JOB = `SELECT ${GPU_USAGE_COLUMNS} FROM attempt_gpu_usage WHERE attempt_id IN (SELECT id FROM attempts WHERE job_id = $1) ORDER BY attempt_id, device_index`;
const SELECT_IDLE_BY_QUEUE = `SELECT j.queue, count(*)::int AS count FROM attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.idle_since IS NOT NULL AND a.${LIVE_ATTEMPT} GROUP BY j.queue ORDER BY j.queue`;
const SELECT_HOLDERS = `SELECT h.node_id, h.device_index, h.attempt_id, a.job_id, j.queue FROM device_holds h
  JOIN attempts a ON a.id = h.attempt_id JOIN jobs j ON j.id = a.job_id ORDER BY h.node_id, h.device_index`;

interface LiveRow {
  id: number;
  job_id: number;
  node_id: string;
  devices: number[];
  idle_since: number | null;
  queue: string;
}

/** In a write transaction. */
export async function recordLiveGpuUsage(sql: Sql, nodeId: string, reports: LiveGpuUsage[], now: number): Promise<IdleChange[]> {
  if (reports.length === 0) return [];
  // The first report of each attempt, as if the later ones came one call later (they would change nothing new).
  const byAttempt = new Map<number, LiveGpuUsage>();
  for (const r of reports) if (!byAttempt.has(r.attemptId)) byAttempt.set(r.attemptId, r);
  const live = await sql.query<LiveRow>(LOCK_LIVE_ON_NODE, [[...byAttempt.keys()], nodeId]);
  if (live.length === 0) return [];
  const changes: IdleChange[] = [];
  for (const a of live) {
    const r = byAttempt.get(a.id)!;
    // Set or cleared; while flagged, the time it was first flagged with stays.
    if ((a.idle_since === null) === (r.idleSince === null)) continue;
    changes.push({ attemptId: a.id, jobId: a.job_id, queue: a.queue, nodeId: a.node_id, devices: a.devices, idleSince: r.idleSince });
  }
  await sql.query(WRITE_LIVE, [changes.map((c) => c.attemptId), changes.map((c) => c.idleSince), now, ...usageColumns(live.map((a) => byAttempt.get(a.id)!))]);
  return changes;
}

export async function listGpuUsage(sql: Sql, jobId: number): Promise<AttemptGpuUsage[]> {
  return (await sql.query<GpuUsageRow>(SELECT_OF_JOB, [jobId])).map(gpuUsageFromRow);
}

export async function idleAttemptsByQueue(sql: Sql): Promise<{ queue: string; count: number }[]> {
  return sql.query<{ queue: string; count: number }>(SELECT_IDLE_BY_QUEUE);
}

export async function deviceHolders(sql: Sql): Promise<DeviceHolder[]> {
  const rows = await sql.query<{ node_id: string; device_index: number; attempt_id: number; job_id: number; queue: string }>(SELECT_HOLDERS);
  return rows.map((h) => ({ nodeId: h.node_id, index: h.device_index, attemptId: h.attempt_id, jobId: h.job_id, queue: h.queue }));
}
