import { describe, expect, it } from 'vitest';
import { AttemptUsage } from './attempt-usage.js';
import { FAKE_GPU_MEMORY_MB, FAKE_TELEMETRY, fakeTelemetry } from './devices/fake-gpus.js';

const T0 = 1_700_000_000_000;

describe("an agent's GPU accounting of its attempts", () => {
  it('drives simulated devices from each attempt\'s script, folds their samples, reports live figures and idle flags, and final figures at the end', () => {
    const usage = new AttemptUsage();
    usage.setPolicy({ utilizationPct: 5, idleMs: 1000 });
    usage.start(1, [0, 1], T0, { GPUQ_FAKE_GPU_UTILIZATION: '80:2,3:5' });
    usage.start(2, [2], T0, {});
    usage.start(3, [], T0, { GPUQ_FAKE_GPU_UTILIZATION: '0' });

    // Simulated telemetry of a 4-GPU node every 500 ms: devices 0 and 1 follow attempt 1's script, 2 is plainly busy, 3 is free.
    const loads = usage.loads();
    expect([...loads.keys()].sort()).toEqual([0, 1, 2]);
    const live: ReturnType<AttemptUsage['live']>[] = [];
    for (let at = T0 + 500; at <= T0 + 4000; at += 500) {
      const samples = fakeTelemetry('n', 4, (i) => loads.get(i) ?? null, at);
      expect(samples[3]).toMatchObject(FAKE_TELEMETRY.idle);
      expect(samples[2]).toMatchObject(FAKE_TELEMETRY.busy);
      expect(samples[0]).toMatchObject({ utilizationPct: at - T0 < 2000 ? 80 : 3, memoryUsedMb: Math.round(((at - T0 < 2000 ? 80 : 3) / 100) * (FAKE_GPU_MEMORY_MB / 2)) });
      usage.add(samples);
      live.push(usage.live(at));
    }
    // Attempt 3 holds no GPU: never tracked. Attempt 1 went under 5 % at 2 s and is flagged 1 s later; attempt 2 never.
    expect(live.every((l) => l.map((r) => r.attemptId).join() === '1,2')).toBe(true);
    expect(live.map((l) => l[0]!.idleSince)).toEqual([null, null, null, null, null, T0 + 2000, T0 + 2000, T0 + 2000]);
    expect(live.map((l) => l[1]!.idleSince).every((v) => v === null)).toBe(true);
    expect(live[3]![0]!.gpuUsage[0]).toEqual({ device: 0, gpuSeconds: 2, meanUtilizationPct: 80, peakUtilizationPct: 80, peakMemoryMb: FAKE_GPU_MEMORY_MB * 0.4, idleSeconds: 0, samples: 4 });

    const final = usage.finish(1, T0 + 4000);
    expect(final).toEqual([0, 1].map((device) => ({ device, gpuSeconds: 4, meanUtilizationPct: (80 * 2 + 3 * 2) / 4, peakUtilizationPct: 80, peakMemoryMb: FAKE_GPU_MEMORY_MB * 0.4, idleSeconds: 2, samples: 8 })));
    expect(usage.finish(1, T0 + 5000)).toBeUndefined();
    expect(usage.finish(3, T0 + 5000)).toBeUndefined();
    expect([...usage.loads().keys()]).toEqual([2]);
    usage.forget(2);
    expect(usage.live(T0 + 5000)).toEqual([]);
  });
});
