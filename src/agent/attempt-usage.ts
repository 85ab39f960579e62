import { DEFAULT_IDLE_POLICY, GpuUsageFold, type GpuUsage, type IdlePolicy } from '../core/gpu-usage.js';
import type { DeviceTelemetry } from '../core/types.js';
import { FAKE_GPU_UTILIZATION_ENV, parseUtilizationScript, type UtilizationScript } from '../core/utilization-script.js';
import type { AttemptUsageReport } from './agent-link.js';
import type { FakeDeviceLoad } from './devices/fake-gpus.js';

interface Tracked {
  fold: GpuUsageFold;
  script: UtilizationScript | null;
}

/**
 * The GPU accounting of an agent's running attempts (core/gpu-usage.ts): one fold per attempt that holds
 * GPUs, from its start to its end, fed every telemetry sample of its devices. It answers what the agent
 * reports: each attempt's live figures and idle flag with the telemetry (`live`), its final figures with
 * its end (`finish`); and, for simulated devices, each held device's scripted load (`loads`).
 *
 * The idle policy is the control plane's (its registration answer says it); until then, the default.
 */
export class AttemptUsage {
  private readonly attempts = new Map<number, Tracked>();
  private policy: IdlePolicy = DEFAULT_IDLE_POLICY;

  /** The control plane's idle policy, from the registration: applies to attempts started from now on and to idle flags at once. */
  setPolicy(policy: IdlePolicy): void {
    this.policy = policy;
  }

  /** An attempt started on these devices; `env` is its job's (its scripted simulated load, if any). No GPUs: nothing to track. */
  start(attemptId: number, devices: readonly number[], startedAt: number, env: Readonly<Record<string, string>>): void {
    if (devices.length === 0) return;
    const text = env[FAKE_GPU_UTILIZATION_ENV];
    const parsed = text === undefined ? null : parseUtilizationScript(text);
    this.attempts.set(attemptId, {
      fold: new GpuUsageFold(devices, startedAt, this.policy.utilizationPct),
      script: parsed !== null && 'script' in parsed ? parsed.script : null,
    });
  }

  /** Folds in a telemetry sample of the node's devices. */
  add(samples: readonly DeviceTelemetry[]): void {
    if (samples.length === 0) return;
    for (const t of this.attempts.values()) t.fold.add(samples);
  }

  /** The live figures and idle flag of every tracked attempt, as of `now`. */
  live(now: number): AttemptUsageReport[] {
    return [...this.attempts].map(([attemptId, t]) => ({ attemptId, idleSince: t.fold.idleSince(now, this.policy), gpuUsage: t.fold.summary(now) }));
  }

  /** The attempt's final figures, and forgets it; undefined when it held no GPU (or never started). */
  finish(attemptId: number, endedAt: number): GpuUsage[] | undefined {
    const t = this.attempts.get(attemptId);
    if (!t) return undefined;
    this.attempts.delete(attemptId);
    return t.fold.summary(endedAt);
  }

  /** Forgets an attempt without figures (its reports are dropped). */
  forget(attemptId: number): void {
    this.attempts.delete(attemptId);
  }

  /** What holds each simulated device now: the tracked attempts' starts and scripts (fake-gpus.ts). */
  loads(): Map<number, FakeDeviceLoad> {
    const out = new Map<number, FakeDeviceLoad>();
    for (const t of this.attempts.values()) for (const d of t.fold.devices) out.set(d, { startedAt: t.fold.startedAt, script: t.script });
    return out;
  }
}
