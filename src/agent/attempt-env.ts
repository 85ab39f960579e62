/**
 * The environment of an attempt's process: the agent's own environment minus
 * anything that would leak another job's identity or GPUs into this one, plus
 * the job's env, plus what gpuq sets (which the job spec cannot override;
 * job-spec.ts refuses those names).
 */

/** Names never inherited from the agent: they are set per attempt or must not leak. */
const NOT_INHERITED = /^(CUDA_VISIBLE_DEVICES|NVIDIA_VISIBLE_DEVICES|CUDA_DEVICE_ORDER|GPUQ_.*)$/;

const inheritedCache = new WeakMap<object, Record<string, string>>();

/**
 * The inheritable part of `base`, computed once per base object (the agent's
 * environment does not change while it runs), so each attempt copies a
 * prepared object instead of filtering the environment again.
 */
export function inheritableEnv(base: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string>> {
  let out = inheritedCache.get(base);
  if (!out) {
    out = {};
    for (const [k, v] of Object.entries(base)) if (v !== undefined && !NOT_INHERITED.test(k)) out[k] = v;
    Object.freeze(out);
    inheritedCache.set(base, out);
  }
  return out;
}

export interface AttemptIdentity {
  attemptId: number;
  jobId: number;
  attemptNumber: number;
  devices: readonly number[];
  artifactsDir: string;
}

/** The variables gpuq sets for an attempt; the CUDA ones pin it to exactly its devices (none: no GPU is visible). */
export function gpuqEnv(a: AttemptIdentity): Record<string, string> {
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
    GPUQ_ARTIFACTS_DIR: a.artifactsDir,
  };
}

export function attemptEnv(base: Readonly<Record<string, string | undefined>>, jobEnv: Readonly<Record<string, string>>, a: AttemptIdentity): Record<string, string> {
  return { ...inheritableEnv(base), ...jobEnv, ...gpuqEnv(a) };
}
