/**
 * Random numbers for the Monte Carlo risk engine.
 *
 * - `streamState(seed, stream)`: the 128-bit xoshiro128** state of one stream, derived from the
 *   run's 64-bit seed and the stream number (a block of paths) through splitmix64. A stream's numbers
 *   depend only on (seed, stream), never on which worker or shard draws them: that is what makes a
 *   sharded run equal an unsharded one bit for bit.
 * - xoshiro128** (Blackman and Vigna): 32-bit words, so every operation is a native int32 op in V8
 *   (`Math.imul`, shifts); xoshiro256** would need BigInt or emulated 64-bit arithmetic in the hot loop.
 *   Period 2^128 − 1; streams start at splitmix64-scrambled points, so the chance that two of the
 *   < 2^32 streams of a run overlap within their < 2^32 draws each is below 2^-64.
 * - Normals: the Marsaglia–Tsang ziggurat with 128 layers. Each 32-bit draw is split into disjoint bit
 *   fields: the low 7 bits pick the layer, the high 25 bits (arithmetic shift) are a signed magnitude,
 *   so the layer never reuses the value's bits (the correlation Doornik 2005 found in the original
 *   RNOR) and the sign needs no branch (a random sign is a 50 % mispredicted branch otherwise).
 *   The tail beyond r = 3.4426 and the wedges are sampled exactly from the same stream.
 *
 * Pure: no `node:*` imports, no clock, no Math.random.
 */

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** The splitmix64 output function (Steele, Lea, Flood 2014): a bijective 64-bit mix. */
export function mix64(x: bigint): bigint {
  let z = x & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/**
 * The xoshiro128** state of stream `stream` of the run seeded with `seed` (0 ≤ seed < 2^64): the
 * stream-th pair of outputs of a splitmix64 sequence keyed by mix64(seed), i.e. the words
 * mix64(key + (2k+1)γ) and mix64(key + (2k+2)γ). Streams of one seed can never share a state (the
 * inputs differ and mix64 is a bijection); two seeds' streams meet only if their keys differ by a
 * multiple of γ within the stream range, a chance of about streams/2^64. Seeding costs a few BigInt
 * ops, paid once per block of paths (thousands of normals), never per draw.
 */
export function streamState(seed: bigint, stream: number, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  const key = mix64(seed);
  const at = BigInt(stream) * 2n;
  for (let w = 0; w < 2; w++) {
    const z = mix64(key + (at + BigInt(w) + 1n) * GOLDEN_GAMMA);
    out[2 * w] = Number(z & 0xffffffffn);
    out[2 * w + 1] = Number(z >> 32n);
  }
  // The all-zero state is xoshiro's only fixed point; splitmix64 makes it practically impossible, but be exact.
  if ((out[0]! | out[1]! | out[2]! | out[3]!) === 0) out[0] = 1;
  return out;
}

/** Parses a seed given as a JSON number (a safe integer) or a decimal string, as an unsigned 64-bit value. */
export function seedToBigInt(seed: number | string): bigint {
  const b = BigInt(seed);
  if (b < 0n || b > MASK64) throw new RangeError(`seed must be in [0, 2^64), got ${seed}`);
  return b;
}

/** Next 32-bit output of xoshiro128** (unsigned), advancing `s` in place. Used off the hot path. */
export function nextUint32(s: Uint32Array): number {
  const s0 = s[0]!, s1 = s[1]!, s2 = s[2]!, s3 = s[3]!;
  const m = Math.imul(s1, 5);
  const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
  const t = s1 << 9;
  let n2 = s2 ^ s0, n3 = s3 ^ s1;
  const n1 = s1 ^ n2, n0 = s0 ^ n3;
  n2 ^= t;
  n3 = (n3 << 11) | (n3 >>> 21);
  s[0] = n0; s[1] = n1; s[2] = n2; s[3] = n3;
  return result;
}

/** A uniform double in the open interval (0, 1), from one 32-bit draw (never 0, so log() is finite). */
export function nextUniform(s: Uint32Array): number {
  return (nextUint32(s) + 0.5) * 2.3283064365386963e-10;
}

// ---- Ziggurat tables (Marsaglia and Tsang 2000, 128 layers), scaled for 24-bit magnitudes. ----
const LAYERS = 128;
const R = 3.442619855899;
const V = 9.91256303526217e-3;
const M24 = 16777216; // 2^24: the magnitude's range (25 signed bits)
/** Accept threshold per layer: a magnitude below it lies inside the layer's inner rectangle. */
const KN = new Int32Array(LAYERS);
/** x per unit of magnitude per layer. */
const WN = new Float64Array(LAYERS);
/** The density exp(−x²/2) at each layer's right edge. */
const FN = new Float64Array(LAYERS);
{
  let dn = R;
  let tn = dn;
  const q = V / Math.exp(-0.5 * dn * dn);
  KN[0] = Math.floor((dn / q) * M24);
  KN[1] = 0;
  WN[0] = q / M24;
  WN[LAYERS - 1] = dn / M24;
  FN[0] = 1;
  FN[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
  for (let i = LAYERS - 2; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(V / dn + Math.exp(-0.5 * dn * dn)));
    KN[i + 1] = Math.floor((dn / tn) * M24);
    tn = dn;
    FN[i] = Math.exp(-0.5 * dn * dn);
    WN[i] = dn / M24;
  }
}

/**
 * The ziggurat's slow path (about 1.2 % of draws): the base strip's tail, or a wedge test, then
 * fresh draws until one is accepted. `r` is the 32-bit draw that missed the fast path.
 */
function normalSlow(s: Uint32Array, r: number): number {
  for (;;) {
    const iz = r & 127;
    const h = r >> 7;
    if (Math.abs(h) < KN[iz]!) return h * WN[iz]!;
    if (iz === 0) {
      // Exact tail beyond R (Marsaglia 1964): x = R + E1/R accepted when 2·E2 ≥ (E1/R)².
      let x: number, y: number;
      do {
        x = -Math.log(nextUniform(s)) / R;
        y = -Math.log(nextUniform(s));
      } while (y + y < x * x);
      return h < 0 ? -(R + x) : R + x;
    }
    const x = h * WN[iz]!;
    if (FN[iz]! + nextUniform(s) * (FN[iz - 1]! - FN[iz]!) < Math.exp(-0.5 * x * x)) return x;
    r = nextUint32(s);
  }
}

/** One standard normal draw (convenience; the simulation uses `fillNormals`). */
export function nextNormal(s: Uint32Array): number {
  return normalSlow(s, nextUint32(s));
}

/**
 * Fills out[from, to) with standard normals from stream state `s` (advanced in place).
 * The fast path keeps the state in locals and inlines xoshiro128** and the ziggurat's accept test;
 * the rare slow path writes the state back, runs `normalSlow`, and reloads it, so the sequence is
 * exactly the one `nextNormal` would give.
 */
export function fillNormals(s: Uint32Array, out: Float64Array, from: number, to: number): void {
  let s0 = s[0]! | 0, s1 = s[1]! | 0, s2 = s[2]! | 0, s3 = s[3]! | 0;
  for (let k = from; k < to; k++) {
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const iz = r & 127;
    const h = r >> 7;
    const sign = h >> 31;
    if (((h ^ sign) - sign) < KN[iz]!) {
      out[k] = h * WN[iz]!;
    } else {
      s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
      out[k] = normalSlow(s, r);
      s0 = s[0]! | 0; s1 = s[1]! | 0; s2 = s[2]! | 0; s3 = s[3]! | 0;
    }
  }
  s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}

/**
 * The single-asset antithetic walk with the normal generator fused into the step loop (no buffer
 * round trip): for each pair k < pairs, xPlus[k] and xMinus[k] get Σ_t (mu ± sig·z_t) over `steps`
 * normals z_t. It consumes exactly the normals `fillNormals` would, in the same order, so results
 * are identical to the unfused walk (the simulation tests compare them).
 */
export function walkPairs1d(s: Uint32Array, pairs: number, steps: number, mu: number, sig: number, xPlus: Float64Array, xMinus: Float64Array): void {
  let s0 = s[0]! | 0, s1 = s[1]! | 0, s2 = s[2]! | 0, s3 = s[3]! | 0;
  for (let k = 0; k < pairs; k++) {
    let a = 0;
    let c = 0;
    for (let t = 0; t < steps; t++) {
      const m = Math.imul(s1, 5);
      const r = Math.imul((m << 7) | (m >>> 25), 9);
      const tt = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= tt;
      s3 = (s3 << 11) | (s3 >>> 21);
      const iz = r & 127;
      const h = r >> 7;
      const sign = h >> 31;
      let z: number;
      if (((h ^ sign) - sign) < KN[iz]!) {
        z = h * WN[iz]!;
      } else {
        s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
        z = normalSlow(s, r);
        s0 = s[0]! | 0; s1 = s[1]! | 0; s2 = s[2]! | 0; s3 = s[3]! | 0;
      }
      const e = sig * z;
      a += mu + e;
      c += mu - e;
    }
    xPlus[k] = a;
    xMinus[k] = c;
  }
  s[0] = s0; s[1] = s1; s[2] = s2; s[3] = s3;
}
