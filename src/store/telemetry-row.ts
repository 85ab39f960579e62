import type { DeviceTelemetry } from '../core/types.js';

/** A device telemetry sample as both stores keep it (tables `telemetry` and `telemetry_latest`). */
export interface TelemetryRow {
  node_id: string;
  device_index: number;
  at: number;
  utilization_pct: number | null;
  memory_used_mb: number | null;
  temperature_c: number | null;
  power_w: number | null;
  ecc_corrected: number | null;
  ecc_uncorrected: number | null;
}

export const TELEMETRY_COLUMNS =
  'node_id, device_index, at, utilization_pct, memory_used_mb, temperature_c, power_w, ecc_corrected, ecc_uncorrected';

export function telemetryFromRow(row: TelemetryRow): DeviceTelemetry {
  return {
    nodeId: row.node_id,
    index: row.device_index,
    at: row.at,
    utilizationPct: row.utilization_pct,
    memoryUsedMb: row.memory_used_mb,
    temperatureC: row.temperature_c,
    powerW: row.power_w,
    eccCorrected: row.ecc_corrected,
    eccUncorrected: row.ecc_uncorrected,
  };
}
