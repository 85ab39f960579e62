import type { DeviceTelemetry, HostMemoryReport, MaintenanceMode, NodeAdminState, NodeInfo, NodeRegistration } from '../../core/types.js';
import type { NodeLogEndpoint } from '../store.js';
import type { Sql } from './postgres-pool.js';
import { deviceFromRow, nodeFromRow, TELEMETRY_COLUMNS, telemetryFromRow, type DeviceRow, type NodeRow, type TelemetryRow } from './rows.js';

/** Nodes and their devices, device telemetry, and the settings table (maintenance mode). */

/** Never writes admin_state: the operator's cordon outlives re-registrations. Parameters: id, hostname, labels (JSON), cpus, memory_mb, max_running, incarnation, last_heartbeat_at, state. */
const UPSERT_NODE = `INSERT INTO nodes (id, hostname, labels, cpus, memory_mb, max_running, incarnation, last_heartbeat_at, state)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9)
  ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, labels = excluded.labels, cpus = excluded.cpus, memory_mb = excluded.memory_mb,
    max_running = excluded.max_running, incarnation = excluded.incarnation, last_heartbeat_at = excluded.last_heartbeat_at, state = excluded.state`;
/** Parameters: node_id. */
const DELETE_DEVICES = `DELETE FROM devices WHERE node_id = $1`;
/** Parameters: node_id, then device_index int[], uuid, name text[], simulated bool[], memory_total_mb bigint[], pci_bus_id text[], healthy bool[]. */
const INSERT_DEVICES = `INSERT INTO devices (node_id, device_index, uuid, name, simulated, memory_total_mb, pci_bus_id, healthy)
  SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[], $5::bool[], $6::bigint[], $7::text[], $8::bool[])`;
/** Parameters: last_heartbeat_at, id. */
const HEARTBEAT = `UPDATE nodes SET last_heartbeat_at = $1, state = 'up',
    host_memory_total_mb = coalesce($2, host_memory_total_mb), host_memory_available_mb = coalesce($3, host_memory_available_mb),
    host_memory_at = CASE WHEN $2::bigint IS NULL THEN host_memory_at ELSE $1 END
  WHERE id = $4`;
/** $1 id, $2 incarnation. */
const NODE_LEFT = `UPDATE nodes SET state = 'down' WHERE id = $1 AND incarnation = $2 AND state = 'up'`;
/** Rows are locked in id order, as applyPlan locks them, so the two never deadlock. Parameters: before. */
const MARK_DOWN = `UPDATE nodes SET state = 'down'
  WHERE id IN (SELECT id FROM nodes WHERE state = 'up' AND last_heartbeat_at < $1 ORDER BY id FOR NO KEY UPDATE)
  RETURNING id`;
const NODE_COLUMNS = `id, hostname, labels, cpus, memory_mb, max_running, incarnation, last_heartbeat_at, state, admin_state, host_memory_total_mb, host_memory_available_mb, host_memory_at`;
const DEVICE_COLUMNS = `node_id, device_index, uuid, name, simulated, memory_total_mb, pci_bus_id, healthy`;
const SELECT_NODES = `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY id`;
const SELECT_DEVICES = `SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY node_id, device_index`;
/** Parameters: id. */
const SELECT_NODE = `SELECT ${NODE_COLUMNS} FROM nodes WHERE id = $1`;
/** Parameters: node_id. */
const SELECT_NODE_DEVICES = `SELECT ${DEVICE_COLUMNS} FROM devices WHERE node_id = $1 ORDER BY device_index`;
/**
 * The row lock it takes is the one applyPlan takes on the nodes it places onto, so a placement either
 * commits before the cordon or sees it. Parameters: admin_state, id.
 */
const SET_ADMIN_STATE = `UPDATE nodes SET admin_state = $1 WHERE id = $2`;
/** Parameters: log_url, log_secret (both null to clear), id. */
const SET_LOG_ENDPOINT = `UPDATE nodes SET log_url = $1, log_secret = $2 WHERE id = $3`;
/** Parameters: id. */
const SELECT_LOG_ENDPOINT = `SELECT log_url, log_secret FROM nodes WHERE id = $1`;

/**
 * Appends the samples to the history, and keeps the newest sample of each device: within the batch the
 * latest `at` (the later sample on a tie), and against the stored one only when not older (agents may
 * resend). The latest rows are written in (node, device) order, so concurrent writers lock them in one order.
 * Parameters: node_id text[], device_index int[], at, utilization_pct, memory_used_mb, temperature_c, power_w float8[],
 * ecc_corrected, ecc_uncorrected bigint[].
 */
const RECORD_TELEMETRY = `WITH s AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::float8[], $4::float8[], $5::float8[], $6::float8[], $7::float8[], $8::bigint[], $9::bigint[])
      WITH ORDINALITY AS s(${TELEMETRY_COLUMNS}, ord)
  ), history AS (
    INSERT INTO telemetry (${TELEMETRY_COLUMNS}) SELECT ${TELEMETRY_COLUMNS} FROM s
  )
  INSERT INTO telemetry_latest (${TELEMETRY_COLUMNS})
  SELECT DISTINCT ON (node_id, device_index) ${TELEMETRY_COLUMNS} FROM s ORDER BY node_id, device_index, at DESC, ord DESC
  ON CONFLICT (node_id, device_index) DO UPDATE SET at = excluded.at, utilization_pct = excluded.utilization_pct,
    memory_used_mb = excluded.memory_used_mb, temperature_c = excluded.temperature_c, power_w = excluded.power_w,
    ecc_corrected = excluded.ecc_corrected, ecc_uncorrected = excluded.ecc_uncorrected
  WHERE excluded.at >= telemetry_latest.at`;
const SELECT_LATEST = `SELECT ${TELEMETRY_COLUMNS} FROM telemetry_latest ORDER BY node_id, device_index`;
/** Parameters: node_id, device_index, since. */
const SELECT_HISTORY = `SELECT ${TELEMETRY_COLUMNS} FROM telemetry WHERE node_id = $1 AND device_index = $2 AND at >= $3 ORDER BY at`;
/** Returns how many history samples went. Parameters: before. */
const PURGE_TELEMETRY = `WITH latest AS (DELETE FROM telemetry_latest WHERE at < $1) DELETE FROM telemetry WHERE at < $1`;

/** Parameters: key. */
const SELECT_SETTING = `SELECT value FROM settings WHERE key = $1`;
/** Parameters: key, value, updated_at. */
const UPSERT_SETTING = `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;

const MAINTENANCE_KEY = 'maintenance_mode';

/** In a write transaction: registers a node or replaces what is known of it, devices included. */
export async function upsertNode(sql: Sql, node: NodeRegistration): Promise<void> {
  await sql.execute(UPSERT_NODE, [
    node.id, node.hostname, JSON.stringify(node.labels), node.cpus, node.memoryMb, node.maxRunning, node.incarnation, node.lastHeartbeatAt, node.state,
  ]);
  await sql.execute(DELETE_DEVICES, [node.id]);
  if (node.devices.length === 0) return;
  const col = <T>(f: (d: NodeInfo['devices'][number]) => T): T[] => node.devices.map(f);
  await sql.execute(INSERT_DEVICES, [
    node.id, col((d) => d.index), col((d) => d.uuid), col((d) => d.name), col((d) => d.simulated), col((d) => d.memoryTotalMb), col((d) => d.pciBusId), col((d) => d.healthy),
  ]);
}

export async function nodeLeft(sql: Sql, nodeId: string, incarnation: string): Promise<boolean> {
  return (await sql.execute(NODE_LEFT, [nodeId, incarnation])) > 0;
}

export async function heartbeatNode(sql: Sql, nodeId: string, now: number, hostMemory?: HostMemoryReport): Promise<void> {
  await sql.execute(HEARTBEAT, [now, hostMemory?.totalMb ?? null, hostMemory?.availableMb ?? null, nodeId]);
}

export async function markNodesDown(sql: Sql, before: number): Promise<string[]> {
  return (await sql.query<{ id: string }>(MARK_DOWN, [before])).map((r) => r.id).sort();
}

/** In a read transaction, so nodes and devices are one snapshot. */
export async function listNodes(sql: Sql): Promise<NodeInfo[]> {
  const devices = new Map<string, DeviceRow[]>();
  for (const d of await sql.query<DeviceRow>(SELECT_DEVICES)) {
    const list = devices.get(d.node_id);
    if (list) list.push(d);
    else devices.set(d.node_id, [d]);
  }
  return (await sql.query<NodeRow>(SELECT_NODES)).map((n) => nodeFromRow(n, (devices.get(n.id) ?? []).map(deviceFromRow)));
}

/** In a read transaction, so the node and its devices are one snapshot. */
export async function getNode(sql: Sql, nodeId: string): Promise<NodeInfo | null> {
  const [row] = await sql.query<NodeRow>(SELECT_NODE, [nodeId]);
  if (!row) return null;
  return nodeFromRow(row, (await sql.query<DeviceRow>(SELECT_NODE_DEVICES, [nodeId])).map(deviceFromRow));
}

/** In a write transaction: the new state and the node as it is then, or null for an unknown node. */
export async function setNodeAdminState(sql: Sql, nodeId: string, state: NodeAdminState): Promise<NodeInfo | null> {
  if ((await sql.execute(SET_ADMIN_STATE, [state, nodeId])) === 0) return null;
  return getNode(sql, nodeId);
}

export async function setNodeLogEndpoint(sql: Sql, nodeId: string, endpoint: NodeLogEndpoint | null): Promise<void> {
  await sql.execute(SET_LOG_ENDPOINT, [endpoint?.url ?? null, endpoint?.secret ?? null, nodeId]);
}

export async function getNodeLogEndpoint(sql: Sql, nodeId: string): Promise<NodeLogEndpoint | null> {
  const [row] = await sql.query<{ log_url: string | null; log_secret: string | null }>(SELECT_LOG_ENDPOINT, [nodeId]);
  return row?.log_url != null && row.log_secret != null ? { url: row.log_url, secret: row.log_secret } : null;
}

export async function recordTelemetry(sql: Sql, samples: DeviceTelemetry[]): Promise<void> {
  if (samples.length === 0) return;
  const col = <T>(f: (s: DeviceTelemetry) => T): T[] => samples.map(f);
  await sql.execute(RECORD_TELEMETRY, [
    col((s) => s.nodeId), col((s) => s.index), col((s) => s.at), col((s) => s.utilizationPct), col((s) => s.memoryUsedMb),
    col((s) => s.temperatureC), col((s) => s.powerW), col((s) => s.eccCorrected), col((s) => s.eccUncorrected),
  ]);
}

export async function latestTelemetry(sql: Sql): Promise<DeviceTelemetry[]> {
  return (await sql.query<TelemetryRow>(SELECT_LATEST)).map(telemetryFromRow);
}

export async function telemetryHistory(sql: Sql, nodeId: string, index: number, since: number): Promise<DeviceTelemetry[]> {
  return (await sql.query<TelemetryRow>(SELECT_HISTORY, [nodeId, index, since])).map(telemetryFromRow);
}

export async function purgeTelemetry(sql: Sql, before: number): Promise<number> {
  return sql.execute(PURGE_TELEMETRY, [before]);
}

export async function getMaintenanceMode(sql: Sql): Promise<MaintenanceMode> {
  const [row] = await sql.query<{ value: string }>(SELECT_SETTING, [MAINTENANCE_KEY]);
  return row?.value === 'drain' ? 'drain' : 'normal';
}

export async function setMaintenanceMode(sql: Sql, mode: MaintenanceMode, now: number): Promise<void> {
  await sql.execute(UPSERT_SETTING, [MAINTENANCE_KEY, mode, now]);
}
