import type { Device, DeviceTelemetry } from '../../core/types.js';
import { utilizationAt, type UtilizationScript } from '../../core/utilization-script.js';

/**
 * `--fake-gpus N`: simulated devices for running gpuq on a machine without
 * GPUs (development, CI, demos). They are marked `simulated: true` wherever a
 * Device is shown, and their telemetry is a pure function of whether gpuq has
 * an attempt running on them — never random, never pretending to measure:
 *   busy → utilization 100 %, half the memory used, 65 °C
 *   idle → utilization 0 %, no memory used, 30 °C
 * A job may script its simulated load instead (SIMULATION ONLY, for testing
 * GPU accounting and idle detection without GPUs): its env
 * GPUQ_FAKE_GPU_UTILIZATION, e.g. "80:2,3:5" (core/utilization-script.ts),
 * sets the utilization of its devices as a function of the time since the
 * attempt started; memory and temperature follow it (at 100 % they are the
 * busy figures above, at 0 % the idle ones). Real GPUs ignore the variable.
 * Power is null (there is nothing to measure and no honest number to invent);
 * ECC counts are 0 (a simulated device has no memory to corrupt).
 */

export const FAKE_GPU_NAME = 'Simulated GPU (gpuq --fake-gpus)';
export const FAKE_GPU_MEMORY_MB = 81920;
/** Upper bound on --fake-gpus; a node with more is a typo. */
export const MAX_FAKE_GPUS = 256;

export const FAKE_TELEMETRY = Object.freeze({
  busy: { utilizationPct: 100, memoryUsedMb: FAKE_GPU_MEMORY_MB / 2, temperatureC: 65 },
  idle: { utilizationPct: 0, memoryUsedMb: 0, temperatureC: 30 },
});

/** Throws RangeError unless 0 ≤ count ≤ MAX_FAKE_GPUS and an integer. */
export function fakeDevices(nodeId: string, count: number): Device[] {
  if (!Number.isInteger(count) || count < 0 || count > MAX_FAKE_GPUS) {
    throw new RangeError(`--fake-gpus must be a whole number from 0 to ${MAX_FAKE_GPUS}, got ${count}`);
  }
  return Array.from({ length: count }, (_, i) => ({
    index: i,
    uuid: `FAKE-GPU-${nodeId}-${i}`,
    name: FAKE_GPU_NAME,
    simulated: true,
    memoryTotalMb: FAKE_GPU_MEMORY_MB,
    pciBusId: null,
    healthy: true,
  }));
}

/** What holds a simulated device now: an attempt started at `startedAt`, with its scripted load (null: the plain busy figures). */
export interface FakeDeviceLoad {
  startedAt: number;
  script: UtilizationScript | null;
}

/**
 * Telemetry of `count` fake devices. `loadOf(index)` says what holds the device now: false or null when
 * nothing does (idle), true for an attempt without a script (busy), or the attempt's load.
 */
export function fakeTelemetry(nodeId: string, count: number, loadOf: (index: number) => boolean | FakeDeviceLoad | null, now: number): DeviceTelemetry[] {
  return Array.from({ length: count }, (_, i) => {
    const load = loadOf(i);
    const t = load === true || (load && load.script === null) ? FAKE_TELEMETRY.busy : load ? scriptedTelemetry(utilizationAt(load.script!, now - load.startedAt)) : FAKE_TELEMETRY.idle;
    return { nodeId, index: i, at: now, ...t, powerW: null, eccCorrected: 0, eccUncorrected: 0 };
  });
}

/** A scripted utilization's figures: memory and temperature scale with it between the idle and the busy ones. */
export function scriptedTelemetry(pct: number): { utilizationPct: number; memoryUsedMb: number; temperatureC: number } {
  const { busy, idle } = FAKE_TELEMETRY;
  const f = pct / 100;
  return {
    utilizationPct: pct,
    memoryUsedMb: Math.round(idle.memoryUsedMb + f * (busy.memoryUsedMb - idle.memoryUsedMb)),
    temperatureC: Math.round(idle.temperatureC + f * (busy.temperatureC - idle.temperatureC)),
  };
}
