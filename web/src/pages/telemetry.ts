import { useEffect, useRef, useState } from 'preact/hooks';
import type { DeviceTelemetry } from '../../../src/core/types.js';
import type { NodeView } from '../../../src/sdk/client.js';
import type { DashboardClient } from '../api.js';
import { useInterval, useLiveEvents, useRefetchOn, useResource } from '../hooks.js';
import { useSession } from '../session.js';

/**
 * The nodes and their devices' telemetry over the last WINDOW_MS. Telemetry has no event (it is sampled
 * every few seconds), so it is the one thing read on a timer: GET /v1/nodes every REFRESH_MS, each device's
 * newest sample appended to its series. The history before the page opened comes from the telemetry route,
 * once per device (for the first MAX_HISTORY devices: a large cluster's tiles fill in as they are read).
 * Node events (up/down, cordon/drain, device health) read the nodes again at once.
 */

export const WINDOW_MS = 30 * 60_000;
const REFRESH_MS = 5000;
const MAX_HISTORY = 64;

export type DeviceKey = `${string}/${number}`;

export interface AttemptIdle {
  jobId: number;
  name: string;
  idle: boolean;
}

export interface Fleet {
  nodes: NodeView[] | undefined;
  error: unknown;
  /** Samples by device, oldest first, within the window. */
  series: Map<DeviceKey, DeviceTelemetry[]>;
  /** What is known of the attempts holding devices: their job's name and whether they are flagged idle. */
  attempts: Map<number, AttemptIdle>;
  reload: () => void;
}

interface AttemptDetail {
  id: number;
  idleSince?: number | null;
}

export function useFleet(): Fleet {
  const { client } = useSession();
  const nodes = useResource(() => client.nodes().then((r) => r.nodes), []);
  useRefetchOn((e) => e.type === 'node.state' || e.type === 'node.admin' || e.type === 'device.health', nodes.reload, 250);
  // A job taking or freeing GPUs changes what the tiles show: read the nodes again (at most once a second).
  useRefetchOn((e) => e.type === 'job.state' && e.devices.length > 0 && (e.to === 'running' || e.from === 'running'), nodes.reload, 1000);
  useInterval(nodes.reload, REFRESH_MS);
  const series = useRef(new Map<DeviceKey, DeviceTelemetry[]>());
  const historyRead = useRef(new Set<DeviceKey>());
  const [attempts, setAttempts] = useState(new Map<number, AttemptIdle>());
  const [, bump] = useState(0);

  // Newest samples into the series; the history of devices not read yet.
  useEffect(() => {
    const list = nodes.data;
    if (!list) return;
    const now = Date.now();
    for (const n of list) {
      for (const d of n.devices) {
        const key: DeviceKey = `${n.id}/${d.index}`;
        const s = series.current.get(key) ?? [];
        if (d.telemetry && (s.length === 0 || s[s.length - 1]!.at < d.telemetry.at)) s.push(d.telemetry);
        while (s.length > 0 && s[0]!.at < now - WINDOW_MS) s.shift();
        series.current.set(key, s);
      }
    }
    const missing = list.flatMap((n) => n.devices.map((d) => ({ node: n.id, index: d.index, key: `${n.id}/${d.index}` as DeviceKey }))).filter((d) => !historyRead.current.has(d.key)).slice(0, MAX_HISTORY - historyRead.current.size);
    for (const d of missing) historyRead.current.add(d.key);
    if (missing.length > 0) {
      void Promise.all(missing.map((d) => readHistory(client, d.node, d.index, now - WINDOW_MS).then((h) => merge(series.current, d.key, h)))).then(() => bump((x) => x + 1));
    }
    bump((x) => x + 1);

    // Names and idle flags of the attempts holding devices, read once per attempt.
    const held = new Map<number, number>();
    for (const n of list) for (const d of n.devices) if (d.heldBy) held.set(d.heldBy.attemptId, d.heldBy.jobId);
    const unknown = [...held].filter(([attemptId]) => !attempts.has(attemptId));
    if (unknown.length > 0) {
      void Promise.all(
        unknown.map(async ([attemptId, jobId]) => {
          try {
            const detail = await client.get(jobId);
            const a = (detail.attempts as AttemptDetail[]).find((x) => x.id === attemptId);
            return [attemptId, { jobId, name: detail.job.name, idle: a?.idleSince !== undefined && a.idleSince !== null }] as const;
          } catch {
            return [attemptId, { jobId, name: `job ${jobId}`, idle: false }] as const;
          }
        }),
      ).then((found) => setAttempts((m) => new Map([...m, ...found])));
    }
  }, [nodes.data]);

  // Idle flags as they are raised and cleared.
  useLiveEvents((e) => {
    if (e.type !== 'job.idle') return;
    setAttempts((m) => {
      const known = m.get(e.attemptId);
      const next = new Map(m);
      next.set(e.attemptId, { jobId: e.jobId, name: known?.name ?? `job ${e.jobId}`, idle: e.idle });
      return next;
    });
  });

  return { nodes: nodes.data, error: nodes.error, series: series.current, attempts, reload: nodes.reload };
}

async function readHistory(client: DashboardClient, node: string, index: number, since: number): Promise<DeviceTelemetry[]> {
  try {
    const r = await client.request<{ samples: DeviceTelemetry[] }>('GET', `/v1/nodes/${encodeURIComponent(node)}/devices/${index}/telemetry?sinceMs=${Math.floor(since)}`);
    return r.samples;
  } catch {
    return [];
  }
}

function merge(series: Map<DeviceKey, DeviceTelemetry[]>, key: DeviceKey, history: DeviceTelemetry[]): void {
  const byAt = new Map<number, DeviceTelemetry>();
  for (const s of [...history, ...(series.get(key) ?? [])]) byAt.set(s.at, s);
  series.set(key, [...byAt.values()].sort((a, b) => a.at - b.at));
}
