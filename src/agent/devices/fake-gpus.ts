import type { Device, DeviceTelemetry } from '../../core/types.js';

/**
 * `--fake-gpus N`: simulated devices for running gpuq on a machine without
 * GPUs (development, CI, demos). They are marked `simulated: true` wherever a
 * Device is shown, and their telemetry is a pure function of whether gpuq has
 * an attempt running on them — never random, never pretending to measure:
 *   busy → utilization 100 %, half the memory used, 65 °C
 *   idle → utilization 0 %, no memory used, 30 °C
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

/** Telemetry of `count` fake devices; `isBusy(index)` says whether an attempt holds the device now. */
export function fakeTelemetry(nodeId: string, count: number, isBusy: (index: number) => boolean, now: number): DeviceTelemetry[] {
  return Array.from({ length: count }, (_, i) => {
    const t = isBusy(i) ? FAKE_TELEMETRY.busy : FAKE_TELEMETRY.idle;
    return { nodeId, index: i, at: now, ...t, powerW: null, eccCorrected: 0, eccUncorrected: 0 };
  });
}
