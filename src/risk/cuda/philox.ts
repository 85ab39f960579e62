/**
 * A reference of the CUDA engine's random numbers in TypeScript: Philox4x32-10 (Salmon, Moraes, Dror,
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC11) and the stream layout of risk-engine.cu,
 * so the layout is fixed by a test on any machine and a GPU's output can be checked bit for bit
 * (bench/gpu-check). Pure: no I/O.
 *
 * Stream layout (ADR 0010): key = the 64-bit seed (k0 = low 32 bits, k1 = high 32 bits). Unit u (an
 * antithetic pair, path index / 2, or a single path) draws its j-th block of 4 words with counter
 * (j, 0, u mod 2³², ⌊u / 2³²⌋); Box–Muller turns words (w0, w1) into normals 4j, 4j+1 and (w2, w3)
 * into 4j+2, 4j+3. Normal n drives step ⌊n / assets⌋ of asset n mod assets.
 */

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

/** The high 32 bits of the 64-bit product of two unsigned 32-bit words (16-bit limbs: every partial product is exact in a double). */
export function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const carry = ((p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)) >>> 16;
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + carry) >>> 0;
}

/** Philox4x32 with 10 rounds: the block for `counter` (4 words) under `key` (2 words). */
export function philox4x32(counter: ArrayLike<number>, key: ArrayLike<number>, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  let c0 = counter[0]! >>> 0, c1 = counter[1]! >>> 0, c2 = counter[2]! >>> 0, c3 = counter[3]! >>> 0;
  let k0 = key[0]! >>> 0, k1 = key[1]! >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + PHILOX_W0) >>> 0;
      k1 = (k1 + PHILOX_W1) >>> 0;
    }
    const hi0 = mulHi32(PHILOX_M0, c0), lo0 = Math.imul(PHILOX_M0, c0) >>> 0;
    const hi1 = mulHi32(PHILOX_M1, c2), lo1 = Math.imul(PHILOX_M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
  return out;
}

/** The Philox key of a run: its 64-bit seed (a decimal string or bigint) as [low, high] words. */
export function seedKey(seed: string | bigint): [number, number] {
  const s = BigInt(seed);
  if (s < 0n || s >= 1n << 64n) throw new RangeError(`seed must be in [0, 2^64), got ${seed}`);
  return [Number(s & 0xffffffffn), Number(s >> 32n)];
}

/** The counter of unit `unit`'s j-th Philox block. */
export function unitCounter(unit: number | bigint, j: number): [number, number, number, number] {
  const u = BigInt(unit);
  return [j >>> 0, 0, Number(u & 0xffffffffn), Number((u >> 32n) & 0xffffffffn)];
}

/** 1 + (w >> 9)·2⁻²³: the GPU's uniform in [1, 2), made from the top 23 bits of a word. */
export function mantissaOne(w: number): number {
  return 1 + (w >>> 9) * 2 ** -23;
}

/**
 * The first `count` normals of unit `unit` in double precision from the same words as the GPU: the
 * GPU computes them in float with fast approximations (log2, sin, cos), so its values agree to about
 * 1e-6 (up to 1e-3 near z = 0, where √(−2 ln u) amplifies the log's absolute error), never more.
 */
export function referenceNormals(seed: string | bigint, unit: number | bigint, count: number): Float64Array {
  const key = seedKey(seed);
  const out = new Float64Array(count);
  const w = new Uint32Array(4);
  for (let j = 0; 4 * j < count; j++) {
    philox4x32(unitCounter(unit, j), key, w);
    for (let pair = 0; pair < 2; pair++) {
      const u = 2 - mantissaOne(w[2 * pair]!);
      const theta = 2 * Math.PI * (mantissaOne(w[2 * pair + 1]!) - 1.5);
      const r = Math.sqrt(-2 * Math.log(u));
      const n = 4 * j + 2 * pair;
      if (n < count) out[n] = r * Math.cos(theta);
      if (n + 1 < count) out[n + 1] = r * Math.sin(theta);
    }
  }
  return out;
}

/** Random123's known answers for philox4x32 with 10 rounds (its kat_vectors file): counter, key, expected block. */
export const PHILOX_KNOWN_ANSWERS: readonly { counter: number[]; key: number[]; expected: number[] }[] = [
  { counter: [0, 0, 0, 0], key: [0, 0], expected: [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8] },
  { counter: [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], key: [0xffffffff, 0xffffffff], expected: [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd] },
  { counter: [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], key: [0xa4093822, 0x299f31d0], expected: [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1] },
];
