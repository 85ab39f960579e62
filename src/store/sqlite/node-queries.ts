import type { Database } from 'better-sqlite3';
import type { DeviceTelemetry, HostMemoryReport, MaintenanceMode, NodeAdminState, NodeInfo, NodeRegistration } from '../../core/types.js';
import type { NodeLogEndpoint } from '../store.js';
import { deviceFromRow, nodeFromRow, TELEMETRY_COLUMNS, telemetryFromRow, type DeviceRow, type NodeRow, type TelemetryRow } from './rows.js';

/** Nodes and their devices, device telemetry, and the settings table (maintenance mode). */

/** Never writes admin_state: the operator's cordon outlives re-registrations. Parameters: @id, @hostname, @labels (JSON), @cpus, @memoryMb, @maxRunning, @incarnation, @lastHeartbeatAt, @state. */
const UPSERT_NODE = `INSERT INTO nodes (id, hostname, labels, cpus, memory_mb, max_running, incarnation, last_heartbeat_at, state)
  VALUES (@id, @hostname, @labels, @cpus, @memoryMb, @maxRunning, @incarnation, @lastHeartbeatAt, @state)
  ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, labels = excluded.labels, cpus = excluded.cpus,
    memory_mb = excluded.memory_mb, max_running = excluded.max_running, incarnation = excluded.incarnation, last_heartbeat_at = excluded.last_heartbeat_at, state = excluded.state`;
interface UpsertNodeParams {
  id: string;
  hostname: string;
  labels: string;
  cpus: number;
  memoryMb: number;
  maxRunning: number;
  incarnation: string;
  lastHeartbeatAt: number;
  state: string;
}
/** Parameters: node_id. */
const DELETE_DEVICES = `DELETE FROM devices WHERE node_id = ?`;
/** Parameters: node_id, device_index, uuid, name, simulated (0/1), memory_total_mb, pci_bus_id, healthy (0/1). */
const INSERT_DEVICE = `INSERT INTO devices (node_id, device_index, uuid, name, simulated, memory_total_mb, pci_bus_id, healthy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`;
/** Parameters: the heartbeat's time, the host memory's total and available (null: not reported, the last reading stays), the node. */
const HEARTBEAT = `UPDATE nodes SET last_heartbeat_at = @now, state = 'up',
    host_memory_total_mb = coalesce(@total, host_memory_total_mb), host_memory_available_mb = coalesce(@available, host_memory_available_mb),
    host_memory_at = CASE WHEN @total IS NULL THEN host_memory_at ELSE @now END
  WHERE id = @id`;
/** Parameters: id, incarnation. */
const NODE_LEFT = `UPDATE nodes SET state = 'down' WHERE id = ? AND incarnation = ? AND state = 'up'`;
/** Parameters: before. */
const MARK_DOWN = `UPDATE nodes SET state = 'down' WHERE state = 'up' AND last_heartbeat_at < ? RETURNING id`;
const NODE_COLUMNS = `id, hostname, labels, cpus, memory_mb, max_running, incarnation, last_heartbeat_at, state, admin_state, host_memory_total_mb, host_memory_available_mb, host_memory_at`;
const DEVICE_COLUMNS = `node_id, device_index, uuid, name, simulated, memory_total_mb, pci_bus_id, healthy`;
const SELECT_NODES = `SELECT ${NODE_COLUMNS} FROM nodes ORDER BY id`;
const SELECT_DEVICES = `SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY node_id, device_index`;
/** Parameters: id. */
const SELECT_NODE = `SELECT ${NODE_COLUMNS} FROM nodes WHERE id = ?`;
/** Parameters: node_id. */
const SELECT_NODE_DEVICES = `SELECT ${DEVICE_COLUMNS} FROM devices WHERE node_id = ? ORDER BY device_index`;
/** Parameters: admin_state, id. */
const SET_ADMIN_STATE = `UPDATE nodes SET admin_state = ? WHERE id = ?`;
/** Parameters: log_url, log_secret (both null to clear), id. */
const SET_LOG_ENDPOINT = `UPDATE nodes SET log_url = ?, log_secret = ? WHERE id = ?`;
/** Parameters: id. */
const SELECT_LOG_ENDPOINT = `SELECT log_url, log_secret FROM nodes WHERE id = ?`;

/** Parameters: node_id, device_index, at, utilization_pct, memory_used_mb, temperature_c, power_w, ecc_corrected, ecc_uncorrected. */
const INSERT_TELEMETRY = `INSERT INTO telemetry (${TELEMETRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`;
/** A sample older than the one kept (agents may resend) does not replace it. Parameters: as INSERT_TELEMETRY. */
const UPSERT_LATEST = `INSERT INTO telemetry_latest (${TELEMETRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (node_id, device_index) DO UPDATE SET at = excluded.at, utilization_pct = excluded.utilization_pct,
    memory_used_mb = excluded.memory_used_mb, temperature_c = excluded.temperature_c, power_w = excluded.power_w,
    ecc_corrected = excluded.ecc_corrected, ecc_uncorrected = excluded.ecc_uncorrected
  WHERE excluded.at >= telemetry_latest.at`;
const SELECT_LATEST = `SELECT ${TELEMETRY_COLUMNS} FROM telemetry_latest ORDER BY node_id, device_index`;
/** Parameters: node_id, device_index, since. */
const SELECT_HISTORY = `SELECT ${TELEMETRY_COLUMNS} FROM telemetry WHERE node_id = ? AND device_index = ? AND at >= ? ORDER BY at`;
/** Parameters: before. */
const DELETE_TELEMETRY = `DELETE FROM telemetry WHERE at < ?`;
/** Parameters: before. */
const DELETE_LATEST = `DELETE FROM telemetry_latest WHERE at < ?`;

/** Parameters: key. */
const SELECT_SETTING = `SELECT value FROM settings WHERE key = ?`;
/** Parameters: key, value, updated_at. */
const UPSERT_SETTING = `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
  ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;

const MAINTENANCE_KEY = 'maintenance_mode';

type TelemetryParams = [string, number, number, number | null, number | null, number | null, number | null, number | null, number | null];

export type NodeQueries = ReturnType<typeof prepareNodeQueries>;

export function prepareNodeQueries(db: Database) {
  const nodeLeftStmt = db.prepare<[string, string]>(NODE_LEFT);
  const upsertNodeStmt = db.prepare<UpsertNodeParams>(UPSERT_NODE);
  const deleteDevices = db.prepare<[string]>(DELETE_DEVICES);
  const insertDevice = db.prepare<[string, number, string, string, number, number, string | null, number]>(INSERT_DEVICE);
  const heartbeat = db.prepare<[{ now: number; total: number | null; available: number | null; id: string }]>(HEARTBEAT);
  const markDown = db.prepare<[number], { id: string }>(MARK_DOWN);
  const selectNodes = db.prepare<[], NodeRow>(SELECT_NODES);
  const selectDevices = db.prepare<[], DeviceRow>(SELECT_DEVICES);
  const selectNode = db.prepare<[string], NodeRow>(SELECT_NODE);
  const selectNodeDevices = db.prepare<[string], DeviceRow>(SELECT_NODE_DEVICES);
  const setAdminState = db.prepare<[string, string]>(SET_ADMIN_STATE);
  const setLogEndpoint = db.prepare<[string | null, string | null, string]>(SET_LOG_ENDPOINT);
  const selectLogEndpoint = db.prepare<[string], { log_url: string | null; log_secret: string | null }>(SELECT_LOG_ENDPOINT);
  const insertTelemetry = db.prepare<TelemetryParams>(INSERT_TELEMETRY);
  const upsertLatest = db.prepare<TelemetryParams>(UPSERT_LATEST);
  const selectLatest = db.prepare<[], TelemetryRow>(SELECT_LATEST);
  const selectHistory = db.prepare<[string, number, number], TelemetryRow>(SELECT_HISTORY);
  const deleteTelemetry = db.prepare<[number]>(DELETE_TELEMETRY);
  const deleteLatest = db.prepare<[number]>(DELETE_LATEST);
  const selectSetting = db.prepare<[string], { value: string }>(SELECT_SETTING);
  const upsertSetting = db.prepare<[string, string, number]>(UPSERT_SETTING);

  /** Registers a node or replaces what is known of it, devices included. */
  function upsertNode(node: NodeRegistration): void {
    upsertNodeStmt.run({
      id: node.id,
      hostname: node.hostname,
      labels: JSON.stringify(node.labels),
      cpus: node.cpus,
      memoryMb: node.memoryMb,
      maxRunning: node.maxRunning,
      incarnation: node.incarnation,
      lastHeartbeatAt: node.lastHeartbeatAt,
      state: node.state,
    });
    deleteDevices.run(node.id);
    for (const d of node.devices) {
      insertDevice.run(node.id, d.index, d.uuid, d.name, d.simulated ? 1 : 0, d.memoryTotalMb, d.pciBusId, d.healthy ? 1 : 0);
    }
  }

  function nodeLeft(nodeId: string, incarnation: string): boolean {
    return nodeLeftStmt.run(nodeId, incarnation).changes > 0;
  }

  function heartbeatNode(nodeId: string, now: number, hostMemory?: HostMemoryReport): void {
    heartbeat.run({ now, total: hostMemory?.totalMb ?? null, available: hostMemory?.availableMb ?? null, id: nodeId });
  }

  function markNodesDown(before: number): string[] {
    return markDown
      .all(before)
      .map((r) => r.id)
      .sort();
  }

  function listNodes(): NodeInfo[] {
    const devices = new Map<string, DeviceRow[]>();
    for (const d of selectDevices.all()) {
      const list = devices.get(d.node_id);
      if (list) list.push(d);
      else devices.set(d.node_id, [d]);
    }
    return selectNodes.all().map((n) => nodeFromRow(n, (devices.get(n.id) ?? []).map(deviceFromRow)));
  }

  function getNode(nodeId: string): NodeInfo | null {
    const row = selectNode.get(nodeId);
    return row ? nodeFromRow(row, selectNodeDevices.all(nodeId).map(deviceFromRow)) : null;
  }

  function setNodeAdminState(nodeId: string, state: NodeAdminState): NodeInfo | null {
    if (setAdminState.run(state, nodeId).changes === 0) return null;
    return getNode(nodeId);
  }

  function setNodeLogEndpoint(nodeId: string, endpoint: NodeLogEndpoint | null): void {
    setLogEndpoint.run(endpoint?.url ?? null, endpoint?.secret ?? null, nodeId);
  }

  function getNodeLogEndpoint(nodeId: string): NodeLogEndpoint | null {
    const row = selectLogEndpoint.get(nodeId);
    return row?.log_url != null && row.log_secret != null ? { url: row.log_url, secret: row.log_secret } : null;
  }

  function recordTelemetry(samples: DeviceTelemetry[]): void {
    for (const s of samples) {
      const params: TelemetryParams = [s.nodeId, s.index, s.at, s.utilizationPct, s.memoryUsedMb, s.temperatureC, s.powerW, s.eccCorrected, s.eccUncorrected];
      insertTelemetry.run(...params);
      upsertLatest.run(...params);
    }
  }

  function latestTelemetry(): DeviceTelemetry[] {
    return selectLatest.all().map(telemetryFromRow);
  }

  function telemetryHistory(nodeId: string, index: number, since: number): DeviceTelemetry[] {
    return selectHistory.all(nodeId, index, since).map(telemetryFromRow);
  }

  function purgeTelemetry(before: number): number {
    deleteLatest.run(before);
    return deleteTelemetry.run(before).changes;
  }

  function getMaintenanceMode(): MaintenanceMode {
    return selectSetting.get(MAINTENANCE_KEY)?.value === 'drain' ? 'drain' : 'normal';
  }

  function setMaintenanceMode(mode: MaintenanceMode, now: number): void {
    upsertSetting.run(MAINTENANCE_KEY, mode, now);
  }

  return {
    upsertNode,
    heartbeatNode,
    nodeLeft,
    markNodesDown,
    listNodes,
    getNode,
    setNodeAdminState,
    setNodeLogEndpoint,
    getNodeLogEndpoint,
    recordTelemetry,
    latestTelemetry,
    telemetryHistory,
    purgeTelemetry,
    getMaintenanceMode,
    setMaintenanceMode,
  };
}
