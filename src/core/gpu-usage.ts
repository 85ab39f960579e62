/**
 * Per-attempt GPU accounting and idle detection, as pure functions of telemetry samples and times given.
 *
 * An agent keeps one GpuUsageFold per running attempt that holds GPUs, feeds it the samples of the
 * attempt's devices as its sampler takes them, reports `summary(now)` and `idleSince(now, policy)` with its
 * heartbeats while the attempt runs, and `summary(endedAt)` with the attempt's end (stored in the same
 * transaction as the end).
 *
 * Time-weighted, sample-and-hold. A sample's values hold from its time until the device's next sample (or
 * until the time the summary is taken); the first sample's values also hold back to the attempt's start
 * (nothing was measured before it, and one interval's guess beats leaving the start out). For each device:
 *   gpuSeconds         the attempt's run time (start → end): the GPU was held for all of it, whatever it did
 *   meanUtilizationPct ∫ utilization dt / the time a utilization was known; null when no sample had one
 *   peakUtilizationPct the highest sample; peakMemoryMb likewise (null when none had one)
 *   idleSeconds        the time the held utilization was under the idle threshold
 *   samples            how many samples were folded in
 * Seconds are rounded to the millisecond, the mean to 0.01 %.
 * So idleSeconds ≤ gpuSeconds, and the mean lies between the lowest and the highest sample. The figures'
 * error against the truth is at most one sample interval per change of the load (a change is seen when
 * the next sample is taken).
 *
 * Samples of other devices, from before the start, or older than the device's previous sample are ignored.
 * A sample whose utilization is null (nvidia-smi said [N/A]) counts as a sample, and for memory, but the
 * time until the device's next sample is not covered (it counts neither in the mean nor as idle).
 *
 * Idle: an attempt is idle once every one of its GPUs has stayed under `utilizationPct` for `idleMs`; its
 * idle-since time is when the last of them went under. Any GPU at or above the threshold (or with an unknown
 * utilization) clears it. An attempt without GPUs is never idle.
 */

/** What an attempt's GPU did, as reported and stored (table attempt_gpu_usage). */
export interface GpuUsage {
  /** The device index on the attempt's node. */
  device: number;
  gpuSeconds: number;
  meanUtilizationPct: number | null;
  peakUtilizationPct: number | null;
  peakMemoryMb: number | null;
  idleSeconds: number;
  samples: number;
}

/** When a running attempt's GPUs count as idle. */
export interface IdlePolicy {
  /** Utilization under this (percent) is idle. */
  utilizationPct: number;
  /** How long every GPU of the attempt must stay idle before the attempt is flagged. */
  idleMs: number;
}

/** @default utilization under 5 % for 10 minutes */
export const DEFAULT_IDLE_POLICY: Readonly<IdlePolicy> = Object.freeze({ utilizationPct: 5, idleMs: 10 * 60_000 });

/** The part of a telemetry sample (core/types.ts DeviceTelemetry) the fold reads. */
export interface UsageSample {
  index: number;
  at: number;
  utilizationPct: number | null;
  memoryUsedMb: number | null;
}

interface DeviceFold {
  device: number;
  samples: number;
  /** ∫ utilization dt over the covered time, in percent·ms. */
  utilizationMs: number;
  coveredMs: number;
  idleMs: number;
  peakUtilization: number | null;
  peakMemory: number | null;
  /** The time of the last sample folded in; null before the first. */
  lastAt: number | null;
  /** The utilization held since lastAt (null: unknown). */
  held: number | null;
  /** Since when the held utilization has been under the threshold; null while it is not. */
  belowSince: number | null;
}

/** The fold of one attempt's samples. Mutable, but with no I/O and no clock: every time is passed in. */
export class GpuUsageFold {
  private readonly folds = new Map<number, DeviceFold>();

  /**
   * @param devices the attempt's device indices on its node
   * @param startedAt when the attempt started (ms since the epoch)
   * @param idleUtilizationPct utilization under this counts as idle (idleSeconds, idleSince)
   */
  constructor(
    devices: readonly number[],
    readonly startedAt: number,
    private readonly idleUtilizationPct: number,
  ) {
    for (const device of devices) {
      this.folds.set(device, { device, samples: 0, utilizationMs: 0, coveredMs: 0, idleMs: 0, peakUtilization: null, peakMemory: null, lastAt: null, held: null, belowSince: null });
    }
  }

  get devices(): number[] {
    return [...this.folds.keys()];
  }

  /** Folds in the samples of this attempt's devices; others are ignored. */
  add(samples: readonly UsageSample[]): void {
    for (const s of samples) {
      const d = this.folds.get(s.index);
      if (!d || !Number.isFinite(s.at) || s.at < this.startedAt || (d.lastAt !== null && s.at < d.lastAt)) continue;
      const util = finiteOrNull(s.utilizationPct);
      const first = d.lastAt === null;
      // Until now the previous sample's utilization held; the first sample's holds back to the start.
      this.cover(d, d.lastAt ?? this.startedAt, s.at, first ? util : d.held);
      d.lastAt = s.at;
      d.held = util;
      d.samples++;
      if (util !== null) d.peakUtilization = Math.max(d.peakUtilization ?? util, util);
      const mem = finiteOrNull(s.memoryUsedMb);
      if (mem !== null) d.peakMemory = Math.max(d.peakMemory ?? mem, mem);
      if (util === null || util >= this.idleUtilizationPct) d.belowSince = null;
      else d.belowSince ??= first ? this.startedAt : s.at;
    }
  }

  /**
   * The figures of every device as if the attempt ended at `at`. Changes nothing. GPU-seconds are exactly
   * the run time even when a sample taken after `at` was folded in (the sampler may run between the
   * process's exit and its report); such a sample's few milliseconds stay in the mean, and idle time is
   * capped at the run time.
   */
  summary(at: number): GpuUsage[] {
    const end = Math.max(at, this.startedAt);
    return [...this.folds.values()].map((d) => {
      const held = d.lastAt === null ? null : d.held;
      const tail = held === null ? 0 : Math.max(0, end - d.lastAt!);
      const coveredMs = d.coveredMs + tail;
      const utilizationMs = d.utilizationMs + (held ?? 0) * tail;
      const idleMs = d.idleMs + (held !== null && held < this.idleUtilizationPct ? tail : 0);
      return {
        device: d.device,
        gpuSeconds: round((end - this.startedAt) / 1000, 3),
        meanUtilizationPct: coveredMs > 0 ? round(utilizationMs / coveredMs, 2) : held,
        peakUtilizationPct: d.peakUtilization,
        peakMemoryMb: d.peakMemory,
        idleSeconds: round(Math.min(idleMs, end - this.startedAt) / 1000, 3),
        samples: d.samples,
      };
    });
  }

  /** When the attempt's GPUs became idle under `policy`, if they have stayed so for policy.idleMs by `now`; else null. */
  idleSince(now: number, policy: IdlePolicy): number | null {
    return idleSince([...this.folds.values()].map((d) => d.belowSince), now, policy.idleMs);
  }

  private cover(d: DeviceFold, from: number, to: number, util: number | null): void {
    const ms = to - from;
    if (util === null || ms <= 0) return;
    d.coveredMs += ms;
    d.utilizationMs += util * ms;
    if (util < this.idleUtilizationPct) d.idleMs += ms;
  }
}

/**
 * The idle decision: given since when each GPU of an attempt has been under the idle threshold (null: it is
 * not), the time they have all been under since, when that is at least `idleMs` before `now`; else null.
 */
export function idleSince(belowSince: readonly (number | null)[], now: number, idleMs: number): number | null {
  if (belowSince.length === 0) return null;
  let since = -Infinity;
  for (const b of belowSince) {
    if (b === null) return null;
    since = Math.max(since, b);
  }
  return now - since >= idleMs ? since : null;
}

/** Folds a finished attempt's samples at once: the figures its agent reports with its end. */
export function foldGpuUsage(devices: readonly number[], startedAt: number, endedAt: number, samples: readonly UsageSample[], idleUtilizationPct: number): GpuUsage[] {
  const fold = new GpuUsageFold(devices, startedAt, idleUtilizationPct);
  fold.add(samples.filter((s) => s.at <= endedAt));
  return fold.summary(endedAt);
}

/** The reason an idle attempt's job is cancelled with (gpuq up --idle-cancel). */
export function idleCancelReason(policy: IdlePolicy, nodeId: string, devices: readonly number[]): string {
  return `GPUs idle: utilization under ${policy.utilizationPct} % for ${formatMinutes(policy.idleMs)} on node ${nodeId} GPUs ${devices.join(',')}`;
}

/** "10 min", "1.5 min", "30 s". */
export function formatMinutes(ms: number): string {
  if (ms < 60_000) return `${round(ms / 1000, 1)} s`;
  return `${round(ms / 60_000, 2)} min`;
}

function finiteOrNull(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
