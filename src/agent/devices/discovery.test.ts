import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { DeviceTelemetry } from '../../core/types.js';
import { discoverDevices, TelemetrySampler, type DeviceSource } from './discovery.js';
import { FAKE_GPU_NAME } from './fake-gpus.js';
import { NvidiaSmiError, type ExecFileFn } from './nvidia-smi.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/nvidia-smi');
const dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-discovery-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in nvidia-smi: a real executable that prints a fixture and exits with `code` (or hangs). */
function fakeNvidiaSmi(name: string, body: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}
const printing = (fixture: string, code = 0) => fakeNvidiaSmi(`smi-${fixture}-${code}`, `cat '${path.join(FIXTURES, fixture)}'\nexit ${code}`);

describe('discoverDevices', () => {
  it('--fake-gpus N gives N simulated devices without running nvidia-smi', async () => {
    const r = await discoverDevices({ nodeId: 'n1', fakeGpus: 4, nvidiaSmi: fakeNvidiaSmi('smi-must-not-run', 'exit 99') });
    expect(r.source).toBe('fake');
    expect(r.devices).toHaveLength(4);
    expect(r.devices.every((d) => d.simulated && d.name === FAKE_GPU_NAME)).toBe(true);
  });

  it('--fake-gpus 0 gives no devices', async () => {
    expect(await discoverDevices({ nodeId: 'n1', fakeGpus: 0 })).toMatchObject({ source: 'none', devices: [] });
  });

  it('finds NVIDIA devices through the nvidia-smi binary', async () => {
    const r = await discoverDevices({ nodeId: 'n1', nvidiaSmi: printing('a100x8-sample.csv') });
    expect(r.source).toBe('nvidia');
    expect(r.devices).toHaveLength(8);
    expect(r.devices.every((d) => !d.simulated)).toBe(true);
  });

  it('an absent nvidia-smi means no devices, not an error', async () => {
    expect(await discoverDevices({ nodeId: 'n1', nvidiaSmi: path.join(dir, 'no-such-nvidia-smi') })).toEqual({ source: 'none', nodeId: 'n1', devices: [], warnings: [] });
  });

  it('a failing driver is an error naming what nvidia-smi said', async () => {
    const p = discoverDevices({ nodeId: 'n1', nvidiaSmi: printing('driver-failure.txt', 9) });
    await expect(p).rejects.toBeInstanceOf(NvidiaSmiError);
    await expect(p).rejects.toMatchObject({ exitCode: 9, message: expect.stringContaining("couldn't communicate with the NVIDIA driver") });
  });

  it('a lost GPU among others: exit code non-zero, the readable rows are used and the rest is a warning', async () => {
    const r = await discoverDevices({ nodeId: 'n1', nvidiaSmi: printing('gpu-lost-sample.csv', 15) });
    expect(r.devices.map((d) => d.index)).toEqual([0, 2]);
    expect(r.warnings).toEqual(['Unable to determine the device handle for GPU0000:0F:00.0: Unknown Error']);
  });

  it('a hung nvidia-smi is killed after the timeout and reported', async () => {
    const exec: ExecFileFn = (file, args, o) => import('./nvidia-smi.js').then((m) => m.defaultExecFile(file, args, { ...o, timeout: 200 }));
    const t0 = Date.now();
    await expect(discoverDevices({ nodeId: 'n1', exec, nvidiaSmi: fakeNvidiaSmi('smi-hang', 'exec sleep 30') })).rejects.toThrow(/did not answer within/);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describe('TelemetrySampler', () => {
  afterEach(() => vi.useRealTimers());
  const fakeSource = (count: number): DeviceSource => ({ source: 'fake', nodeId: 'n1', devices: Array.from({ length: count }, (_, i) => ({ index: i, uuid: `u${i}`, name: FAKE_GPU_NAME, simulated: true, memoryTotalMb: 1, pciBusId: null, healthy: true })), warnings: [] });

  it('samples every interval, follows which devices are busy, and stops', async () => {
    vi.useFakeTimers();
    const got: DeviceTelemetry[][] = [];
    const busy = new Set<number>();
    let t = 0;
    const s = new TelemetrySampler(fakeSource(2), 5000, (x) => got.push(x), () => busy, { now: () => t });
    s.start();
    expect(s.running).toBe(true);
    t = 5000;
    await vi.advanceTimersByTimeAsync(5000);
    busy.add(1);
    t = 10_000;
    await vi.advanceTimersByTimeAsync(5000);
    expect(got.map((g) => g.map((x) => x.utilizationPct))).toEqual([
      [0, 0],
      [0, 100],
    ]);
    expect(got.map((g) => g[0]!.at)).toEqual([5000, 10_000]);
    await s.stop();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(got).toHaveLength(2);
  });

  it('never starts for a node without devices', async () => {
    vi.useFakeTimers();
    const got: unknown[] = [];
    const s = new TelemetrySampler({ source: 'none', nodeId: 'n', devices: [], warnings: [] }, 1000, (x) => got.push(x));
    s.start();
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.running).toBe(false);
    expect(got).toEqual([]);
  });

  it('skips ticks while a slow nvidia-smi sample is in flight, and reports failures without stopping', async () => {
    vi.useFakeTimers();
    const csv = readFileSync(path.join(FIXTURES, 'h100-x1.csv'), 'utf8');
    const pending: ((v: { stdout: string; stderr: string } | Error) => void)[] = [];
    const exec: ExecFileFn = () =>
      new Promise((resolve, reject) => pending.push((v) => (v instanceof Error ? reject(Object.assign(v, { code: 9, stdout: 'NVIDIA-SMI has failed', stderr: '' })) : resolve(v))));
    const got: DeviceTelemetry[][] = [];
    const errors: unknown[] = [];
    const source: DeviceSource = { source: 'nvidia', nodeId: 'n', devices: [{ index: 0, uuid: 'u', name: 'H100', simulated: false, memoryTotalMb: 1, pciBusId: null, healthy: true }], warnings: [] };
    const s = new TelemetrySampler(source, 1000, (x) => got.push(x), undefined, { exec, now: () => 42, onError: (e) => errors.push(e) });
    s.start();
    await vi.advanceTimersByTimeAsync(3500); // three ticks, one sample in flight
    expect(pending).toHaveLength(1);
    pending[0]!({ stdout: csv, stderr: '' });
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toHaveLength(1);
    expect(got[0]![0]).toMatchObject({ nodeId: 'n', at: 42, temperatureC: 35, powerW: 120.59 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(pending).toHaveLength(2);
    pending[1]!(new Error('exit 9'));
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(NvidiaSmiError);
    await vi.advanceTimersByTimeAsync(1000);
    expect(pending).toHaveLength(3);
    // stop() waits for the sample in flight; nothing reaches the sink after it.
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    pending[2]!({ stdout: csv, stderr: '' });
    await stopping;
    expect(got).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(pending).toHaveLength(3);
  });
});
