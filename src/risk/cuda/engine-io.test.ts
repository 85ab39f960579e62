/** The params and output files between the TypeScript side and the CUDA engine binary. */
import { describe, expect, it } from 'vitest';
import { compileModel } from '../model.js';
import { validatePortfolio } from '../portfolio.js';
import { cudaUnsupported, decodeOutput, encodeParams } from './engine-io.js';

const model = compileModel(
  validatePortfolio({
    assets: [
      { id: 'A', spot: 100, drift: 0.08, volatility: 0.25, position: 1 },
      { id: 'B', spot: 30, drift: 0.03, volatility: 0.45, position: -2 },
    ],
    correlation: [[1, 0.3], [0.3, 1]],
    options: [{ asset: 'B', type: 'put', strike: 95, expiry: 0.25, position: 2 }],
    horizonDays: 10,
    steps: 10,
    paths: 5000,
    seed: '18446744073709551615',
  }),
);
const hist = { min: -12.5, width: 0.1 + 0.2, bins: 60 };

describe('params file', () => {
  const text = encodeParams(model, 123, hist, 1, 4, 2);
  const lines = text.trimEnd().split('\n');

  it('lists the model, the range and the tail size, one record a line, ending in "end"', () => {
    expect(lines[0]).toBe('gpuq-risk-params 1');
    expect(lines).toContain('seed 18446744073709551615');
    expect(lines).toContain('first_block 1');
    expect(lines).toContain('end_block 4');
    expect(lines).toContain('keep 123');
    expect(lines).toContain('antithetic 1');
    expect(lines).toContain('options 1');
    expect(lines.find((l) => l.startsWith('option '))).toMatch(/^option 1 0 95 /);
    expect(lines[lines.length - 1]).toBe('end');
  });

  it('writes every double in its shortest round-trip form, so the binary reads the same bits', () => {
    expect(lines).toContain('hist -12.5 0.30000000000000004 60');
    const lower = lines.find((l) => l.startsWith('lower '))!.split(' ').slice(1).map(Number);
    expect(lower).toEqual(model.lower);
    const drift = lines.find((l) => l.startsWith('step_drift '))!.split(' ').slice(1).map(Number);
    expect(drift).toEqual(model.stepDrift);
  });

  it('refuses non-finite numbers and says what the engine cannot take', () => {
    expect(() => encodeParams({ ...model, rate: Number.NaN }, 1, hist, 0, 1, 1)).toThrow(/finite/);
    expect(cudaUnsupported(model, hist)).toBeUndefined();
    expect(cudaUnsupported({ ...model, assets: 65 }, hist)).toMatch(/at most 64 assets/);
    expect(cudaUnsupported(model, { ...hist, bins: 10_000 })).toMatch(/histogram bins/);
  });
});

describe('output file', () => {
  function encode(name: string, blocks: number, histLen: number, tail: number[], declaredTail = tail.length): Uint8Array {
    const nameBytes = new TextEncoder().encode(name);
    const padded = Math.ceil(nameBytes.length / 8) * 8;
    const buf = new ArrayBuffer(72 + padded + 8 * (blocks * 5 + histLen + tail.length));
    const v = new DataView(buf);
    new Uint8Array(buf).set(new TextEncoder().encode('GPUQRE01'), 0);
    [2, 2 + blocks, 1000, blocks, histLen, declaredTail, nameBytes.length].forEach((x, i) => v.setBigUint64(8 + 8 * i, BigInt(x), true));
    v.setFloat64(64, 0.25, true);
    new Uint8Array(buf).set(nameBytes, 72);
    let at = 72 + padded;
    for (let i = 0; i < blocks * 5 + histLen; i++, at += 8) v.setFloat64(at, i + 0.5, true);
    for (const t of tail) (v.setFloat64(at, t, true), (at += 8));
    return new Uint8Array(buf);
  }

  it('decodes header, device name, block statistics, histogram and tail', () => {
    const out = decodeOutput(encode('NVIDIA H100 80GB HBM3', 2, 3, [9, 7.5, -1]));
    expect(out).toMatchObject({ firstBlock: 2, endBlock: 4, paths: 1000, device: 'NVIDIA H100 80GB HBM3', seconds: 0.25 });
    expect(Array.from(out.blockStats)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]);
    expect(Array.from(out.histogram)).toEqual([10.5, 11.5, 12.5]);
    expect(Array.from(out.tail)).toEqual([9, 7.5, -1]);
  });

  it('reads a Buffer that is a view at an odd offset into a larger one (as readFile may return)', () => {
    const file = encode('GPU', 1, 2, [3.25, 1]);
    const inner = Buffer.concat([Buffer.from([1, 2, 3]), Buffer.from(file), Buffer.from([4])]).subarray(3, 3 + file.length);
    const out = decodeOutput(inner);
    expect(Array.from(out.blockStats)).toEqual([0.5, 1.5, 2.5, 3.5, 4.5]);
    expect(Array.from(out.histogram)).toEqual([5.5, 6.5]);
    expect(Array.from(out.tail)).toEqual([3.25, 1]);
  });

  it('refuses a file of another format or a truncated one', () => {
    const good = encode('x', 1, 1, [1]);
    const bad = good.slice();
    bad[0] = 0x58;
    expect(() => decodeOutput(bad)).toThrow(/not "GPUQRE01"/);
    expect(() => decodeOutput(good.subarray(0, good.length - 8))).toThrow(/header says/);
    expect(() => decodeOutput(encode('x', 1, 1, [1], 2))).toThrow(/header says/);
    expect(() => decodeOutput(good.subarray(0, 40))).toThrow(/shorter than its header/);
  });
});
