/**
 * The TypeScript reference of the CUDA engine's random numbers: Philox4x32-10 against Random123's
 * published known answers, the 32×32-bit high product against BigInt, and the stream layout's normals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normCdf } from '../closed-forms.js';
import { mulHi32, philox4x32, PHILOX_KNOWN_ANSWERS, referenceNormals, seedKey, unitCounter } from './philox.js';

describe('Philox4x32-10', () => {
  it.each(PHILOX_KNOWN_ANSWERS.map((k) => [k.counter.map((w) => w.toString(16)).join(' '), k] as const))('Random123 known answer for counter %s', (_, k) => {
    expect(Array.from(philox4x32(k.counter, k.key))).toEqual(k.expected);
  });

  it('the high word of a 32×32-bit product equals BigInt arithmetic', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), (a, b) => {
        expect(mulHi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
      }),
      { numRuns: 2000 },
    );
    expect(mulHi32(0xffffffff, 0xffffffff)).toBe(0xfffffffe);
  });

  it('the key is the seed split into words; the counter is (block, 0, unit low, unit high)', () => {
    expect(seedKey('18446744073709551615')).toEqual([0xffffffff, 0xffffffff]);
    expect(seedKey(20260101n)).toEqual([20260101, 0]);
    expect(seedKey(String(2 ** 32 + 5))).toEqual([5, 1]);
    expect(() => seedKey('18446744073709551616')).toThrow(RangeError);
    expect(unitCounter(2 ** 33 + 7, 3)).toEqual([3, 0, 7, 2]);
  });
});

describe('stream layout', () => {
  it('normals 4j…4j+3 of a unit come from its j-th block by Box–Muller on (w0, w1) and (w2, w3)', () => {
    const z = referenceNormals('42', 5, 10);
    const w = philox4x32(unitCounter(5, 2), seedKey('42'));
    const u = 1 - (w[0]! >>> 9) * 2 ** -23;
    const theta = 2 * Math.PI * ((w[1]! >>> 9) * 2 ** -23 - 0.5);
    expect(z[8]).toBe(Math.sqrt(-2 * Math.log(u)) * Math.cos(theta));
    expect(z[9]).toBe(Math.sqrt(-2 * Math.log(u)) * Math.sin(theta));
    // A prefix is a prefix: asking for fewer normals changes none of them.
    expect(Array.from(referenceNormals('42', 5, 7))).toEqual(Array.from(z.subarray(0, 7)));
  });

  it('units and seeds give different streams', () => {
    const a = referenceNormals('1', 0, 8);
    expect(Array.from(referenceNormals('1', 1, 8))).not.toEqual(Array.from(a));
    expect(Array.from(referenceNormals('2', 0, 8))).not.toEqual(Array.from(a));
    expect(Array.from(referenceNormals('1', 2 ** 32, 8))).not.toEqual(Array.from(a));
  });

  it('the normals are standard normal: moments within 4 SE and tail masses within 4 SE of Φ (2^17 draws)', () => {
    const n = 2 ** 17;
    const z = new Float64Array(n);
    for (let unit = 0; unit < n / 64; unit++) z.set(referenceNormals('20260101', unit, 64), unit * 64);
    let s = 0, s2 = 0, s4 = 0;
    for (const v of z) {
      s += v;
      s2 += v * v;
      s4 += v ** 4;
    }
    expect(Math.abs(s / n)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(Math.abs(s4 / n - 3)).toBeLessThan(4 * Math.sqrt(96 / n));
    for (const x of [0.5, 1, 2, 3]) {
      const p = 2 * (1 - normCdf(x));
      const seen = z.filter((v) => Math.abs(v) > x).length / n;
      expect(Math.abs(seen - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / n));
    }
  });
});
