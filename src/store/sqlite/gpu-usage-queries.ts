import type { Database } from 'better-sqlite3';
import type { GpuUsage } from '../../core/gpu-usage.js';
import type { AttemptGpuUsage, DeviceHolder, IdleChange, LiveGpuUsage } from '../gpu-usage-store.js';
import { GPU_USAGE_COLUMNS, gpuUsageFromRow, gpuUsageValues, type GpuUsageRow } from '../gpu-usage-row.js';
import { LIVE_ATTEMPT } from './shared-sql.js';

/**
 * GPU accounting (store/gpu-usage-store.ts, migration 0010): per-GPU figures of attempts, written live and
 * with the end (endAttempts calls `record` in its transaction), and the idle flag of running attempts,
 * whose changes the trigger attempts_idle_feed writes to the event feed.
 */

/** Parameters: attempt_id, device_index, gpu_seconds, mean, peak utilization, peak memory, idle_seconds, samples. */
const UPSERT_USAGE = `INSERT INTO attempt_gpu_usage (${GPU_USAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (attempt_id, device_index) DO UPDATE SET gpu_seconds = excluded.gpu_seconds, mean_utilization_pct = excluded.mean_utilization_pct,
    peak_utilization_pct = excluded.peak_utilization_pct, peak_memory_mb = excluded.peak_memory_mb, idle_seconds = excluded.idle_seconds, samples = excluded.samples`;
/** A live attempt of a node, with what an idle change reports. Parameters: id, node_id. */
const SELECT_LIVE_ON_NODE = `SELECT a.id, a.job_id, a.node_id, a.devices, a.idle_since, j.queue FROM attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.id = ? AND a.node_id = ? AND a.${LIVE_ATTEMPT}`;
/** Parameters: idle_since, idle_changed_at, id. */
const SET_IDLE = `UPDATE attempts SET idle_since = ?, idle_changed_at = ? WHERE id = ?`;
/** Parameters: job_id. */
const SELECT_OF_JOB = `SELECT ${GPU_USAGE_COLUMNS} FROM attempt_gpu_usage WHERE attempt_id IN (SELECT id FROM attempts WHERE job_id = ?) ORDER BY attempt_id, device_index`;
const SELECT_IDLE_BY_QUEUE = `SELECT j.queue, count(*) AS count FROM attempts a JOIN jobs j ON j.id = a.job_id
  WHERE a.idle_since IS NOT NULL AND a.${LIVE_ATTEMPT} GROUP BY j.queue ORDER BY j.queue`;
const SELECT_HOLDERS = `SELECT h.node_id, h.device_index, h.attempt_id, a.job_id, j.queue FROM device_holds h
  JOIN attempts a ON a.id = h.attempt_id JOIN jobs j ON j.id = a.job_id ORDER BY h.node_id, h.device_index`;

interface LiveRow {
  id: number;
  job_id: number;
  node_id: string;
  devices: string;
  idle_since: number | null;
  queue: string;
}

export type GpuUsageQueries = ReturnType<typeof prepareGpuUsageQueries>;

export function prepareGpuUsageQueries(db: Database) {
  const upsertUsage = db.prepare<[number, number, number, number | null, number | null, number | null, number, number]>(UPSERT_USAGE);
  const selectLiveOnNode = db.prepare<[number, string], LiveRow>(SELECT_LIVE_ON_NODE);
  const setIdle = db.prepare<[number | null, number, number]>(SET_IDLE);
  const selectOfJob = db.prepare<[number], GpuUsageRow>(SELECT_OF_JOB);
  const selectIdleByQueue = db.prepare<[], { queue: string; count: number }>(SELECT_IDLE_BY_QUEUE);
  const selectHolders = db.prepare<[], { node_id: string; device_index: number; attempt_id: number; job_id: number; queue: string }>(SELECT_HOLDERS);

  /** Writes an attempt's figures (in the caller's transaction), replacing those written before. */
  function record(attemptId: number, usage: readonly GpuUsage[]): void {
    for (const u of usage) upsertUsage.run(attemptId, ...gpuUsageValues(u));
  }

  function recordLiveGpuUsage(nodeId: string, reports: LiveGpuUsage[], now: number): IdleChange[] {
    const changes: IdleChange[] = [];
    for (const r of reports) {
      const a = selectLiveOnNode.get(r.attemptId, nodeId);
      if (!a) continue;
      record(a.id, r.gpuUsage);
      // Set or cleared; while flagged, the time it was first flagged with stays.
      if ((a.idle_since === null) === (r.idleSince === null)) continue;
      setIdle.run(r.idleSince, now, a.id);
      changes.push({ attemptId: a.id, jobId: a.job_id, queue: a.queue, nodeId: a.node_id, devices: JSON.parse(a.devices) as number[], idleSince: r.idleSince });
    }
    return changes;
  }

  function listGpuUsage(jobId: number): AttemptGpuUsage[] {
    return selectOfJob.all(jobId).map(gpuUsageFromRow);
  }

  function idleAttemptsByQueue(): { queue: string; count: number }[] {
    return selectIdleByQueue.all();
  }

  function deviceHolders(): DeviceHolder[] {
    return selectHolders.all().map((h) => ({ nodeId: h.node_id, index: h.device_index, attemptId: h.attempt_id, jobId: h.job_id, queue: h.queue }));
  }

  return { record, recordLiveGpuUsage, listGpuUsage, idleAttemptsByQueue, deviceHolders };
}
