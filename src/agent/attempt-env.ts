/**
 * The environment of an attempt's process: the agent's own environment minus
 * anything that would leak another job's identity or GPUs into this one, plus
 * the job's env, plus what gpuq sets (which the job spec cannot override;
 * job-spec.ts refuses those names).
 */

import { resultFilePath } from './attempt-output.js';
import { attemptMarker } from './process-tree.js';

/** Names never inherited from the agent: they are set per attempt or must not leak. */
const NOT_INHERITED = /^(CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|GPUQ_.*)$/;

/** What gpuq sets for every attempt (see gpuqEnv). */
const GPUQ_NAMES = ['CUDA_VISIBLE_DEVICES', 'NVIDIA_VISIBLE_DEVICES', 'CUDA_DEVICE_ORDER', 'GPUQ_JOB_ID', 'GPUQ_ATTEMPT', 'GPUQ_ATTEMPT_ID', 'GPUQ_ATTEMPT_KEY', 'GPUQ_NODE', 'GPUQ_ARTIFACTS_DIR', 'GPUQ_RESULT_FILE'] as const;

const templates = new WeakMap<object, Readonly<Record<string, string>>>();

/**
 * The inheritable part of `base` followed by gpuq's names (their values are
 * filled in per attempt), computed once per base object: the agent's
 * environment does not change while it runs.
 *
 * Each attempt copies it with a spread and then overwrites values in place.
 * The template already holds every name gpuq sets and is built in one step
 * (Object.fromEntries), not frozen and not grown key by key: V8 keeps such an
 * object in its fast layout and copies it in well under a microsecond, while
 * an object grown by ~40 keyed stores falls back to a dictionary, and
 * spreading that (or a frozen copy) and then adding gpuq's names took ~15-20 µs
 * per attempt, a sizeable part of the launcher's own work per job.
 */
function templateOf(base: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string>> {
  let t = templates.get(base);
  if (!t) {
    const inherited = Object.entries(base).filter((e): e is [string, string] => e[1] !== undefined && !NOT_INHERITED.test(e[0]));
    t = Object.fromEntries([...inherited, ...GPUQ_NAMES.map((k) => [k, ''])]) as Record<string, string>;
    templates.set(base, t);
  }
  return t;
}

export interface AttemptIdentity {
  attemptId: number;
  jobId: number;
  attemptNumber: number;
  /** The node the attempt runs on (its agent's node name). */
  nodeId: string;
  /** The agent's key in attempt markers (process-tree.ts). */
  agentKey: string;
  devices: readonly number[];
  artifactsDir: string;
}

/** The variables gpuq sets for an attempt; the CUDA ones pin it to exactly its devices (none: no GPU is visible). */
export function gpuqEnv(a: AttemptIdentity): Record<(typeof GPUQ_NAMES)[number], string> {
  const list = a.devices.join(',');
  return {
    CUDA_VISIBLE_DEVICES: list,
    // The NVIDIA container runtime reads "void" as "no GPU"; an empty value would mean "all".
    NVIDIA_VISIBLE_DEVICES: list === '' ? 'void' : list,
    // nvidia-smi numbers devices in PCI order; CUDA's default is "fastest first". Make index N the same GPU for both.
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    GPUQ_JOB_ID: String(a.jobId),
    GPUQ_ATTEMPT: String(a.attemptNumber),
    GPUQ_ATTEMPT_ID: String(a.attemptId),
    GPUQ_ATTEMPT_KEY: attemptMarker(a.agentKey, a.attemptId),
    GPUQ_NODE: a.nodeId,
    GPUQ_ARTIFACTS_DIR: a.artifactsDir,
    // Where the job may leave its JSON result, read when the attempt ends (core/job-output.ts).
    GPUQ_RESULT_FILE: resultFilePath(a.artifactsDir),
  };
}

/** The inherited environment, overridden by the job's env, overridden by gpuq's variables. */
export function attemptEnv(base: Readonly<Record<string, string | undefined>>, jobEnv: Readonly<Record<string, string>>, a: AttemptIdentity): Record<string, string> {
  const env: Record<string, string> = { ...templateOf(base) };
  for (const k in jobEnv) env[k] = jobEnv[k]!;
  const own = gpuqEnv(a);
  for (const k of GPUQ_NAMES) env[k] = own[k];
  return env;
}
