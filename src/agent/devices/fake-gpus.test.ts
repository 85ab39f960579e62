import { describe, expect, it } from 'vitest';
import { FAKE_GPU_MEMORY_MB, FAKE_GPU_NAME, fakeDevices, fakeTelemetry } from './fake-gpus.js';

describe('fake GPUs', () => {
  it('makes N simulated devices with stable, node-scoped uuids', () => {
    const d = fakeDevices('node-7', 3);
    expect(d).toEqual([0, 1, 2].map((i) => ({ index: i, uuid: `FAKE-GPU-node-7-${i}`, name: FAKE_GPU_NAME, simulated: true, memoryTotalMb: FAKE_GPU_MEMORY_MB, pciBusId: null, healthy: true })));
    expect(FAKE_GPU_NAME).toBe('Simulated GPU (gpuq --fake-gpus)');
    expect(fakeDevices('node-7', 0)).toEqual([]);
  });

  it('refuses a count that is negative, fractional or absurd', () => {
    expect(() => fakeDevices('n', -1)).toThrow(RangeError);
    expect(() => fakeDevices('n', 1.5)).toThrow(RangeError);
    expect(() => fakeDevices('n', 100_000)).toThrow(RangeError);
  });

  it('reports 100% while a device is held and 0% otherwise, deterministically', () => {
    const busy = new Set([1]);
    const a = fakeTelemetry('n', 3, (i) => busy.has(i), 1000);
    const b = fakeTelemetry('n', 3, (i) => busy.has(i), 1000);
    expect(a).toEqual(b);
    expect(a.map((t) => t.utilizationPct)).toEqual([0, 100, 0]);
    expect(a.map((t) => t.memoryUsedMb)).toEqual([0, FAKE_GPU_MEMORY_MB / 2, 0]);
    expect(a[1]!.temperatureC).toBeGreaterThan(a[0]!.temperatureC!);
    expect(a.every((t) => t.nodeId === 'n' && t.at === 1000 && t.powerW === null && t.eccUncorrected === 0)).toBe(true);

    busy.clear();
    busy.add(0);
    const c = fakeTelemetry('n', 3, (i) => busy.has(i), 2000);
    expect(c.map((t) => t.utilizationPct)).toEqual([100, 0, 0]);
    expect(c[1]!.temperatureC).toBe(a[0]!.temperatureC);
  });
});
