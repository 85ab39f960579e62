import { describe, expect, it } from 'vitest';
import { normCdf } from './closed-forms.js';
import { fillNormals, mix64, nextNormal, nextUint32, streamState } from './rng.js';

describe('xoshiro128**', () => {
  it('matches the reference algorithm from state {1, 2, 3, 4}', () => {
    // Worked by hand from Blackman and Vigna's xoshiro128starstar.c: rotl(s1·5, 7)·9 with s1 = 2, 0, 1029.
    const s = new Uint32Array([1, 2, 3, 4]);
    expect([nextUint32(s), nextUint32(s), nextUint32(s)]).toEqual([11520, 0, 5927040]);
  });

  it('fillNormals draws exactly the sequence nextNormal draws (fast path and slow path alike)', () => {
    const a = streamState(7n, 3);
    const b = streamState(7n, 3);
    const out = new Float64Array(20_000);
    fillNormals(a, out, 0, out.length);
    for (let i = 0; i < out.length; i++) expect(nextNormal(b)).toBe(out[i]);
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('stream derivation', () => {
  it('depends on the seed and the stream number only, and differs between them', () => {
    expect(Array.from(streamState(42n, 5))).toEqual(Array.from(streamState(42n, 5)));
    const seen = new Set<string>();
    for (const seed of [0n, 1n, 42n, (1n << 64n) - 1n]) for (let k = 0; k < 100; k++) seen.add(streamState(seed, k).join(','));
    expect(seen.size).toBe(400);
  });

  it('mix64 is the splitmix64 finalizer (first output of splitmix64 seeded with 0)', () => {
    // splitmix64 with state 0 first adds γ = 0x9e3779b97f4a7c15, then mixes: the published first output is 0xe220a8397b1dcdaf.
    expect(mix64(0x9e3779b97f4a7c15n)).toBe(0xe220a8397b1dcdafn);
  });
});

describe('ziggurat normals', () => {
  const N = 1_000_000;
  const z = new Float64Array(N);
  fillNormals(streamState(2024n, 0), z, 0, N);

  it('have the moments of N(0, 1) within 4 standard errors', () => {
    let m1 = 0, m2 = 0, m4 = 0;
    for (const x of z) {
      m1 += x;
      m2 += x * x;
      m4 += x ** 4;
    }
    m1 /= N; m2 /= N; m4 /= N;
    // SEs of the sample moments of a standard normal: √(1/N), √(2/N), √(96/N) (Var Z⁴ = 105 − 9).
    expect(Math.abs(m1)).toBeLessThan(4 * Math.sqrt(1 / N));
    expect(Math.abs(m2 - 1)).toBeLessThan(4 * Math.sqrt(2 / N));
    expect(Math.abs(m4 - 3)).toBeLessThan(4 * Math.sqrt(96 / N));
  });

  it('put the right mass in the body, the wedges and the tail beyond r = 3.44', () => {
    for (const c of [0.5, 1.5, 2.5, 3.0, 3.5, 4.0]) {
      let k = 0;
      for (const x of z) if (Math.abs(x) > c) k++;
      const p = 2 * normCdf(-c);
      expect(Math.abs(k / N - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / N) + 1 / N);
    }
  });
});
