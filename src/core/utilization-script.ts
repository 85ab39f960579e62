/**
 * SIMULATION ONLY. A job's scripted GPU load for simulated devices (`--fake-gpus`): the job env
 * `GPUQ_FAKE_GPU_UTILIZATION`, e.g. "80:2,3:5" = 80 % for 2 s, then 3 % for 5 s; the last step holds for as
 * long as the attempt runs (its seconds may be left out: "80:2,3"). The utilization of each of the attempt's
 * simulated GPUs is a pure function of the time since the attempt started. Real GPUs ignore it: their
 * telemetry is measured.
 */

export const FAKE_GPU_UTILIZATION_ENV = 'GPUQ_FAKE_GPU_UTILIZATION';

/** Most steps in a script. */
export const MAX_SCRIPT_STEPS = 1000;

export interface UtilizationStep {
  /** 0-100. */
  pct: number;
  /** How long the step lasts; the last step holds however long it says. */
  seconds: number;
}

export type UtilizationScript = readonly UtilizationStep[];

const NUMBER = /^\d+(\.\d+)?$/;

/** Parses a script; returns why it is not one instead, as a sentence that names the rule. */
export function parseUtilizationScript(text: string): { script: UtilizationScript } | { problem: string } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > MAX_SCRIPT_STEPS) return { problem: `must have at most ${MAX_SCRIPT_STEPS} steps` };
  const steps: UtilizationStep[] = [];
  for (let i = 0; i < parts.length; i++) {
    const [pctText, secondsText, ...extra] = parts[i]!.split(':');
    const last = i === parts.length - 1;
    const bad = (): { problem: string } => ({
      problem: `must be steps PERCENT:SECONDS separated by commas, e.g. "80:2,3:5" (80 % for 2 s, then 3 %); step ${i + 1} ("${parts[i]}") is not one`,
    });
    if (extra.length > 0 || pctText === undefined || !NUMBER.test(pctText)) return bad();
    if (secondsText === undefined && !last) return bad();
    if (secondsText !== undefined && !NUMBER.test(secondsText)) return bad();
    const pct = Number(pctText);
    const seconds = secondsText === undefined ? 0 : Number(secondsText);
    if (pct > 100) return { problem: `step ${i + 1}: the utilization must be 0-100 percent, got ${pct}` };
    if (seconds <= 0 && !last) return { problem: `step ${i + 1}: the duration must be above 0 seconds` };
    steps.push({ pct, seconds });
  }
  return { script: steps };
}

/** The scripted utilization `elapsedMs` after the attempt started (before it: the first step). */
export function utilizationAt(script: UtilizationScript, elapsedMs: number): number {
  let end = 0;
  for (const step of script) {
    end += step.seconds * 1000;
    if (elapsedMs < end) return step.pct;
  }
  return script[script.length - 1]?.pct ?? 0;
}
