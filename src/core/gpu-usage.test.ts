import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { foldGpuUsage, formatMinutes, GpuUsageFold, idleCancelReason, idleSince, type UsageSample } from './gpu-usage.js';
import { parseUtilizationScript, utilizationAt } from './utilization-script.js';

const T0 = 1_700_000_000_000;
const sample = (index: number, at: number, utilizationPct: number | null, memoryUsedMb: number | null = null): UsageSample => ({ index, at, utilizationPct, memoryUsedMb });

/** Samples of a scripted load, every `everyMs` from `firstMs` after the start, as a simulated device would report them. */
function scripted(text: string, index: number, startedAt: number, endedAt: number, everyMs: number, firstMs = everyMs): UsageSample[] {
  const parsed = parseUtilizationScript(text);
  if (!('script' in parsed)) throw new Error(parsed.problem);
  const out: UsageSample[] = [];
  for (let at = startedAt + firstMs; at <= endedAt; at += everyMs) out.push(sample(index, at, utilizationAt(parsed.script, at - startedAt), 100));
  return out;
}

describe('GPU usage fold', () => {
  it('weights each sample by the time it holds, the first back to the start, the last to the end', () => {
    // 0 → 1 s: 80 % (the first sample, at 0.5 s, holds back to the start); 1 → 3 s: 20 %; 3 → 4 s: 20 % held to the end.
    const [u] = foldGpuUsage([0], T0, T0 + 4000, [sample(0, T0 + 500, 80, 1000), sample(0, T0 + 1000, 20, 3000), sample(0, T0 + 3000, 20, 2000)], 5);
    expect(u).toEqual({ device: 0, gpuSeconds: 4, meanUtilizationPct: (80 * 1 + 20 * 3) / 4, peakUtilizationPct: 80, peakMemoryMb: 3000, idleSeconds: 0, samples: 3 });
  });

  it('matches a scripted load to within one sample interval per change of the load', () => {
    // "80:2,3:5": 80 % for 2 s, then 3 % for 5 s; sampled every 100 ms over a 7 s attempt.
    const samples = scripted('80:2,3:5', 0, T0, T0 + 7000, 100);
    const [u] = foldGpuUsage([0], T0, T0 + 7000, samples, 5);
    expect(u!.gpuSeconds).toBe(7);
    expect(u!.peakUtilizationPct).toBe(80);
    // One change of the load (80 → 3) is seen at most 100 ms late: at most 0.1 s × 77 points of utilization-seconds off.
    expect(Math.abs(u!.meanUtilizationPct! - (80 * 2 + 3 * 5) / 7)).toBeLessThanOrEqual((0.1 * 77) / 7 + 1e-9);
    expect(Math.abs(u!.idleSeconds - 5)).toBeLessThanOrEqual(0.1 + 1e-9);
    expect(u!.samples).toBe(70);
  });

  it('keeps devices apart, ignores other devices, samples before the start and samples older than the last one', () => {
    const fold = new GpuUsageFold([0, 2], T0, 5);
    fold.add([sample(1, T0 + 100, 99), sample(0, T0 - 1, 99), sample(0, T0 + 1000, 50), sample(2, T0 + 1000, 10), sample(0, T0 + 500, 99)]);
    const [d0, d2] = fold.summary(T0 + 2000);
    expect(d0).toMatchObject({ device: 0, meanUtilizationPct: 50, peakUtilizationPct: 50, samples: 1 });
    expect(d2).toMatchObject({ device: 2, meanUtilizationPct: 10, peakUtilizationPct: 10, samples: 1, idleSeconds: 0 });
  });

  it('leaves time after an unknown utilization uncovered, and has no figures without samples', () => {
    const fold = new GpuUsageFold([0, 1], T0, 5);
    fold.add([sample(0, T0 + 1000, 2), sample(0, T0 + 2000, null, 500), sample(0, T0 + 3000, 60)]);
    const [d0, d1] = fold.summary(T0 + 4000);
    // Covered: 0-2 s at 2 %, 3-4 s at 60 %; 2-3 s unknown.
    expect(d0).toEqual({ device: 0, gpuSeconds: 4, meanUtilizationPct: Math.round(((2 * 2 + 60 * 1) / 3) * 100) / 100, peakUtilizationPct: 60, peakMemoryMb: 500, idleSeconds: 2, samples: 3 });
    expect(d1).toEqual({ device: 1, gpuSeconds: 4, meanUtilizationPct: null, peakUtilizationPct: null, peakMemoryMb: null, idleSeconds: 0, samples: 0 });
  });

  it('keeps GPU-seconds to the run time and idle time within it when a sample was taken after the end', () => {
    // The agent's sampler ran 40 ms after the process exited, before the agent took its final figures.
    const fold = new GpuUsageFold([0], T0, 5);
    fold.add([sample(0, T0 + 1000, 1), sample(0, T0 + 3040, 1)]);
    const [u] = fold.summary(T0 + 3000);
    expect(u).toMatchObject({ gpuSeconds: 3, idleSeconds: 3, samples: 2 });
  });

  it('gives live figures without changing what it has folded', () => {
    const fold = new GpuUsageFold([0], T0, 5);
    fold.add([sample(0, T0 + 1000, 40)]);
    expect(fold.summary(T0 + 2000)[0]).toMatchObject({ gpuSeconds: 2, meanUtilizationPct: 40 });
    fold.add([sample(0, T0 + 3000, 0)]);
    // 0-3 s at 40 %, 3-5 s at 0 %: the earlier summary did not move the fold on.
    expect(fold.summary(T0 + 5000)[0]).toMatchObject({ gpuSeconds: 5, meanUtilizationPct: 24, idleSeconds: 2 });
  });

  it('flags the attempt idle once every GPU stayed under the threshold for the idle time, and clears it when one is busy again', () => {
    const policy = { utilizationPct: 5, idleMs: 1000 };
    const fold = new GpuUsageFold([0, 1], T0, policy.utilizationPct);
    fold.add([sample(0, T0 + 100, 90), sample(1, T0 + 100, 1)]);
    expect(fold.idleSince(T0 + 5000, policy)).toBeNull();
    fold.add([sample(0, T0 + 500, 4), sample(1, T0 + 500, 3)]);
    // Device 1 has been idle since the start (its first sample holds back to it), device 0 since 0.5 s.
    expect(fold.idleSince(T0 + 1499, policy)).toBeNull();
    expect(fold.idleSince(T0 + 1500, policy)).toBe(T0 + 500);
    fold.add([sample(0, T0 + 2000, 4.9), sample(1, T0 + 2000, 0)]);
    expect(fold.idleSince(T0 + 2000, policy)).toBe(T0 + 500);
    fold.add([sample(0, T0 + 2500, 5), sample(1, T0 + 2500, 0)]);
    expect(fold.idleSince(T0 + 9000, policy)).toBeNull();
    fold.add([sample(0, T0 + 3000, null), sample(1, T0 + 3000, 0)]);
    expect(fold.idleSince(T0 + 9000, policy)).toBeNull();
  });

  it('never flags an attempt without GPUs', () => {
    expect(new GpuUsageFold([], T0, 5).idleSince(T0 + 1e9, { utilizationPct: 5, idleMs: 0 })).toBeNull();
  });
});

describe('GPU usage fold, properties', () => {
  const times = (n: number) => fc.uniqueArray(fc.integer({ min: 0, max: 100_000 }), { minLength: n, maxLength: 40 }).map((ts) => ts.sort((a, b) => a - b));
  const util = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.constant(null));

  it('GPU-seconds are the run time; idle time fits in it; the mean lies between the lowest and highest sample; the peak is the highest', () => {
    fc.assert(
      fc.property(times(0), fc.array(util, { minLength: 40, maxLength: 40 }), fc.integer({ min: 0, max: 50_000 }), fc.integer({ min: 0, max: 100 }), (ts, us, extra, threshold) => {
        const end = T0 + (ts.at(-1) ?? 0) + extra;
        const samples = ts.map((t, i) => sample(0, T0 + t, us[i]!));
        const [u] = foldGpuUsage([0], T0, end, samples, threshold);
        const known = samples.map((s) => s.utilizationPct).filter((v): v is number => v !== null);
        expect(u!.gpuSeconds).toBeCloseTo((end - T0) / 1000, 3);
        expect(u!.idleSeconds).toBeLessThanOrEqual(u!.gpuSeconds + 0.001);
        expect(u!.samples).toBe(samples.length);
        if (known.length === 0) {
          expect(u!.meanUtilizationPct).toBeNull();
          expect(u!.peakUtilizationPct).toBeNull();
        } else {
          expect(u!.peakUtilizationPct).toBe(Math.max(...known));
          if (u!.meanUtilizationPct !== null) {
            expect(u!.meanUtilizationPct).toBeGreaterThanOrEqual(Math.min(...known) - 0.01);
            expect(u!.meanUtilizationPct).toBeLessThanOrEqual(Math.max(...known) + 0.01);
          }
        }
      }),
    );
  });

  it('with every utilization known, equals the integral of the held values over the run, and idle time is the time held under the threshold', () => {
    fc.assert(
      fc.property(times(1), fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 40, maxLength: 40 }), fc.integer({ min: 1, max: 50_000 }), fc.integer({ min: 0, max: 100 }), (ts, us, extra, threshold) => {
        const end = T0 + ts.at(-1)! + extra;
        const samples = ts.map((t, i) => sample(0, T0 + t, us[i]!));
        // The held value over each piece: [start, t1) the first sample's, [ti, ti+1) sample i's, [tn, end) the last's.
        let integral = 0;
        let idle = 0;
        const bounds = [T0, ...samples.slice(1).map((s) => s.at), end];
        samples.forEach((s, i) => {
          const ms = bounds[i + 1]! - bounds[i]!;
          integral += s.utilizationPct! * ms;
          if (s.utilizationPct! < threshold) idle += ms;
        });
        const [u] = foldGpuUsage([0], T0, end, samples, threshold);
        expect(u!.meanUtilizationPct).toBeCloseTo(integral / (end - T0), 1);
        expect(u!.idleSeconds).toBeCloseTo(idle / 1000, 3);
      }),
    );
  });

  it('a repeated sample of the held value changes nothing but the count; the order samples of different devices come in does not matter', () => {
    fc.assert(
      fc.property(times(2), fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 40, maxLength: 40 }), fc.nat(), (ts, us, pick) => {
        const a = ts.map((t, i) => sample(0, T0 + t, us[i]!));
        const b = ts.map((t, i) => sample(1, T0 + t, 100 - us[i]!));
        const end = T0 + ts.at(-1)! + 1000;
        const i = pick % (a.length - 1);
        const mid = Math.floor((a[i]!.at + a[i + 1]!.at) / 2);
        const withRepeat = [...a.slice(0, i + 1), sample(0, mid, a[i]!.utilizationPct), ...a.slice(i + 1)];
        const [plain] = foldGpuUsage([0], T0, end, a, 50);
        const [repeated] = foldGpuUsage([0], T0, end, withRepeat, 50);
        expect({ ...repeated!, samples: repeated!.samples - 1 }).toEqual(plain);
        const interleaved = foldGpuUsage([0, 1], T0, end, a.flatMap((s, k) => [s, b[k]!]), 50);
        const grouped = foldGpuUsage([0, 1], T0, end, [...b, ...a], 50);
        expect(interleaved).toEqual(grouped);
      }),
    );
  });
});

describe('idle decision', () => {
  it('is the time the last GPU went idle, once that is the idle time ago; null while any GPU is busy', () => {
    expect(idleSince([T0, T0 + 500], T0 + 1499, 1000)).toBeNull();
    expect(idleSince([T0, T0 + 500], T0 + 1500, 1000)).toBe(T0 + 500);
    expect(idleSince([T0, null], T0 + 1e9, 1000)).toBeNull();
    expect(idleSince([], T0 + 1e9, 0)).toBeNull();
  });

  it('once idle, stays idle with the same time as the clock moves on (properties)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 10_000 }), (below, now, idleMs, later) => {
        const since = idleSince(below.map((b) => T0 + b), T0 + now, idleMs);
        if (since === null) {
          expect(now - Math.max(...below)).toBeLessThan(idleMs);
        } else {
          expect(since).toBe(T0 + Math.max(...below));
          expect(T0 + now - since).toBeGreaterThanOrEqual(idleMs);
          expect(idleSince(below.map((b) => T0 + b), T0 + now + later, idleMs)).toBe(since);
        }
      }),
    );
  });

  it('says why an idle job is cancelled', () => {
    expect(idleCancelReason({ utilizationPct: 5, idleMs: 600_000 }, 'gpu-07', [0, 1])).toBe('GPUs idle: utilization under 5 % for 10 min on node gpu-07 GPUs 0,1');
    expect(formatMinutes(1200)).toBe('1.2 s');
    expect(formatMinutes(90_000)).toBe('1.5 min');
  });
});
