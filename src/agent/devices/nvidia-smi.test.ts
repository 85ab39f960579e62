import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NVIDIA_SMI_ARGS, NvidiaSmiError, parseNvidiaSmiCsv } from './nvidia-smi.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/nvidia-smi');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name), 'utf8');
const NOW = 1_700_000_000_000;

describe('nvidia-smi query', () => {
  it('asks for the twelve fields in the order the parser reads them, without header or units', () => {
    expect(NVIDIA_SMI_ARGS).toEqual([
      '--query-gpu=index,uuid,name,pci.bus_id,memory.total,memory.used,utilization.gpu,utilization.memory,temperature.gpu,power.draw,ecc.errors.corrected.volatile.total,ecc.errors.uncorrected.volatile.total',
      '--format=csv,noheader,nounits',
    ]);
  });
});

describe('parseNvidiaSmiCsv over the fixtures', () => {
  it('h100-x1.csv (recorded on a real H100)', () => {
    const r = parseNvidiaSmiCsv(fixture('h100-x1.csv'), 'node-a', NOW);
    expect(r.devices).toEqual([
      { index: 0, uuid: 'GPU-de574b31-49e4-22fc-3952-363fe002f99a', name: 'NVIDIA H100 80GB HBM3', simulated: false, memoryTotalMb: 81559, pciBusId: '00000000:00:06.0', healthy: true },
    ]);
    expect(r.telemetry).toEqual([
      { nodeId: 'node-a', index: 0, at: NOW, utilizationPct: 0, memoryUsedMb: 0, temperatureC: 35, powerW: 120.59, eccCorrected: 0, eccUncorrected: 0 },
    ]);
    expect(r.warnings).toEqual([]);
  });

  it('a100x8-sample.csv: eight healthy devices in index order, with their telemetry', () => {
    const r = parseNvidiaSmiCsv(fixture('a100x8-sample.csv'), 'dgx-1', NOW);
    expect(r.devices.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(r.devices.every((d) => d.healthy && d.name === 'NVIDIA A100-SXM4-80GB' && d.memoryTotalMb === 81920 && !d.simulated)).toBe(true);
    expect(new Set(r.devices.map((d) => d.uuid)).size).toBe(8);
    expect(r.devices[7]!.pciBusId).toBe('00000000:BD:00.0');
    expect(r.telemetry[0]).toMatchObject({ utilizationPct: 98, memoryUsedMb: 72345, temperatureC: 64, powerW: 387.21 });
    // Corrected ECC errors are reported but do not make a device unhealthy.
    expect(r.telemetry[3]).toMatchObject({ eccCorrected: 3, eccUncorrected: 0 });
    expect(r.devices[3]!.healthy).toBe(true);
  });

  it('mixed-na-sample.csv: [N/A], [Not Supported] and bare N/A become null; uncorrected ECC makes a device unhealthy', () => {
    const r = parseNvidiaSmiCsv(fixture('mixed-na-sample.csv'), 'ws', NOW);
    const [rtx, gtx, v100, k80] = r.telemetry;
    expect(r.devices.map((d) => [d.name, d.healthy])).toEqual([
      ['NVIDIA GeForce RTX 4090', true],
      ['NVIDIA GeForce GTX 1080 Ti', true],
      ['Tesla V100-PCIE-16GB', false],
      ['Tesla K80', true],
    ]);
    expect(rtx).toMatchObject({ utilizationPct: 12, powerW: 38.55, eccCorrected: null, eccUncorrected: null });
    expect(gtx).toMatchObject({ utilizationPct: null, memoryUsedMb: 0, temperatureC: 35, powerW: null, eccCorrected: null, eccUncorrected: null });
    expect(v100).toMatchObject({ eccCorrected: 12, eccUncorrected: 2 });
    expect(k80).toMatchObject({ powerW: null, temperatureC: 38 });
  });

  it('gpu-lost-sample.csv: keeps the rows it can read and returns the message line as a warning', () => {
    const r = parseNvidiaSmiCsv(fixture('gpu-lost-sample.csv'), 'n', NOW);
    expect(r.devices.map((d) => d.index)).toEqual([0, 2]);
    expect(r.warnings).toEqual(['Unable to determine the device handle for GPU0000:0F:00.0: Unknown Error']);
  });

  it('driver-failure.txt: throws NvidiaSmiError carrying the message', () => {
    const text = fixture('driver-failure.txt');
    expect(() => parseNvidiaSmiCsv(text, 'n', NOW)).toThrow(NvidiaSmiError);
    try {
      parseNvidiaSmiCsv(text, 'n', NOW);
    } catch (e) {
      expect((e as NvidiaSmiError).message).toContain("couldn't communicate with the NVIDIA driver");
      expect((e as NvidiaSmiError).output).toContain('NVIDIA-SMI has failed');
    }
  });
});

describe('parseNvidiaSmiCsv robustness', () => {
  const row = (i: number, rest = '81920, 10, 50, 20, 40, 100.5, 0, 0') => `${i}, GPU-${i}, NVIDIA A100-SXM4-80GB, 00000000:0${i}:00.0, ${rest}`;

  it('accepts CRLF line endings, blank lines and extra whitespace', () => {
    const text = `\r\n  ${row(1)}  \r\n\r\n${row(0).replace(/, /g, ' ,   ')}\r\n\n`;
    const r = parseNvidiaSmiCsv(text, 'n', NOW);
    expect(r.devices.map((d) => [d.index, d.uuid, d.name])).toEqual([
      [0, 'GPU-0', 'NVIDIA A100-SXM4-80GB'],
      [1, 'GPU-1', 'NVIDIA A100-SXM4-80GB'],
    ]);
    expect(r.telemetry[0]).toMatchObject({ powerW: 100.5, memoryUsedMb: 10 });
    expect(r.warnings).toEqual([]);
  });

  it('joins surplus fields back into the name (the only free-text field)', () => {
    const r = parseNvidiaSmiCsv('0, GPU-x, Weird, Card, Name, 00000000:01:00.0, 1024, 1, 2, 3, 40, 50.5, 0, 0', 'n', NOW);
    expect(r.devices[0]).toMatchObject({ name: 'Weird, Card, Name', pciBusId: '00000000:01:00.0', memoryTotalMb: 1024 });
    expect(r.telemetry[0]).toMatchObject({ memoryUsedMb: 1, utilizationPct: 2, temperatureC: 40, powerW: 50.5, eccCorrected: 0, eccUncorrected: 0 });
  });

  it('reads missing trailing fields as null, and a missing memory total as 0', () => {
    const r = parseNvidiaSmiCsv('0, GPU-x, Some GPU, 00000000:01:00.0\n1, GPU-y, Other GPU', 'n', NOW);
    expect(r.devices).toEqual([
      { index: 0, uuid: 'GPU-x', name: 'Some GPU', simulated: false, memoryTotalMb: 0, pciBusId: '00000000:01:00.0', healthy: true },
      { index: 1, uuid: 'GPU-y', name: 'Other GPU', simulated: false, memoryTotalMb: 0, pciBusId: null, healthy: true },
    ]);
    expect(r.telemetry[0]).toMatchObject({ utilizationPct: null, memoryUsedMb: null, temperatureC: null, powerW: null, eccCorrected: null, eccUncorrected: null });
  });

  it('marks a device reporting a fault ([GPU is lost], [Unknown Error]) unhealthy and its fields null', () => {
    const r = parseNvidiaSmiCsv(`${row(0, '81920, [GPU is lost], [GPU is lost], 0, 30, 60, 0, 0')}\n${row(1, '81920, 1, 1, 1, [Unknown Error], 60, 0, 0')}\n${row(2)}`, 'n', NOW);
    expect(r.devices.map((d) => d.healthy)).toEqual([false, false, true]);
    expect(r.telemetry[0]!.memoryUsedMb).toBeNull();
    expect(r.telemetry[1]!.temperatureC).toBeNull();
  });

  it('reads a non-numeric value in a numeric field as null rather than NaN', () => {
    const r = parseNvidiaSmiCsv(row(0, '81920, 12abc, 50, 20, 40, 1e2, 0, -'), 'n', NOW);
    expect(r.telemetry[0]).toMatchObject({ memoryUsedMb: null, powerW: 100, eccUncorrected: null });
  });

  it('keeps the first row of a duplicated index and warns about the second', () => {
    const r = parseNvidiaSmiCsv(`${row(0)}\n0, GPU-dup, Other, x, 1, 1, 1, 1, 1, 1, 0, 0`, 'n', NOW);
    expect(r.devices.map((d) => d.uuid)).toEqual(['GPU-0']);
    expect(r.warnings[0]).toMatch(/duplicate GPU index 0/);
  });

  it('returns no devices for empty output and for "No devices were found"', () => {
    expect(parseNvidiaSmiCsv('', 'n', NOW)).toEqual({ devices: [], telemetry: [], warnings: [] });
    expect(parseNvidiaSmiCsv('No devices were found\n', 'n', NOW)).toEqual({ devices: [], telemetry: [], warnings: [] });
  });

  it('throws on output that is only other text', () => {
    expect(() => parseNvidiaSmiCsv('Failed to initialize NVML: Driver/library version mismatch\n', 'n', NOW)).toThrow(/Driver\/library version mismatch/);
  });
});
