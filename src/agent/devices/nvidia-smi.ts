import { execFile } from 'node:child_process';
import type { Device, DeviceTelemetry } from '../../core/types.js';

/**
 * NVIDIA device discovery and telemetry through `nvidia-smi --query-gpu`.
 *
 * The CSV that nvidia-smi prints with `--format=csv,noheader,nounits` is one
 * row per GPU, fields in the order asked for, separated by ", ", never quoted.
 * A value the device cannot report reads `[N/A]` or `[Not Supported]` (older
 * drivers print `N/A`); a device in trouble reads `[Unknown Error]` or
 * `[GPU is lost]`. When the driver cannot be reached nvidia-smi prints a
 * sentence instead of rows ("NVIDIA-SMI has failed because ...") and exits
 * non-zero.
 *
 * Health rule: a device is listed but `healthy: false` (so the scheduler places
 * nothing on it) when its volatile uncorrected ECC count is above 0, or when
 * any field reports a device fault (`[Unknown Error]`, `[GPU is lost]`,
 * `[GPU requires reset]`, `ERR!`). Uncorrected ECC errors mean memory
 * contents were lost; NVIDIA's guidance is to drain the GPU and reset it. The
 * count is "volatile" (since the last driver load), so a reset brings the
 * device back.
 */

export const NVIDIA_SMI_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'pci.bus_id',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'utilization.memory',
  'temperature.gpu',
  'power.draw',
  'ecc.errors.corrected.volatile.total',
  'ecc.errors.uncorrected.volatile.total',
] as const;

export const NVIDIA_SMI_ARGS: readonly string[] = Object.freeze([`--query-gpu=${NVIDIA_SMI_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits']);

/** How long one nvidia-smi call may take before it is killed. A hung driver makes nvidia-smi hang too. */
export const NVIDIA_SMI_TIMEOUT_MS = 10_000;

const FIELD_COUNT = NVIDIA_SMI_QUERY_FIELDS.length;
/** Values meaning "this device does not report that": the field becomes null. */
const NOT_AVAILABLE = new Set(['', 'n/a', '[n/a]', '[not supported]', '[insufficient permissions]', '[unknown]']);
/** Values meaning the device itself is in trouble: the field becomes null and the device unhealthy. */
const DEVICE_FAULT = new Set(['[unknown error]', '[gpu is lost]', '[gpu requires reset]', 'err!']);

/** nvidia-smi ran but did not give usable device rows (driver not loaded, GPU fell off the bus, timed out). */
export class NvidiaSmiError extends Error {
  /** What nvidia-smi printed (stdout, then stderr), trimmed; empty when it printed nothing. */
  readonly output: string;
  /** Its exit status, when it exited. */
  readonly exitCode: number | null;
  constructor(message: string, output: string, exitCode: number | null = null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NvidiaSmiError';
    this.output = output;
    this.exitCode = exitCode;
  }
}

export interface NvidiaSmiParse {
  devices: Device[];
  telemetry: DeviceTelemetry[];
  /** Lines that were not device rows (e.g. "Unable to determine the device handle for GPU ..."), for the agent to log. */
  warnings: string[];
}

interface FieldValue {
  value: string | null;
  fault: boolean;
}

function field(raw: string | undefined): FieldValue {
  const v = (raw ?? '').trim();
  const lower = v.toLowerCase();
  if (DEVICE_FAULT.has(lower)) return { value: null, fault: true };
  if (NOT_AVAILABLE.has(lower)) return { value: null, fault: false };
  return { value: v, fault: false };
}

const NUMBER_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function num(f: FieldValue): number | null {
  if (f.value === null || !NUMBER_RE.test(f.value)) return null;
  const n = Number(f.value);
  return Number.isFinite(n) ? n : null;
}

/**
 * Splits one row into exactly FIELD_COUNT raw fields. The name is the only
 * free-text field, so a row with surplus fields has commas in its name: the
 * surplus is joined back into it. Missing trailing fields are undefined.
 */
function splitRow(line: string): (string | undefined)[] {
  const parts = line.split(',');
  const surplus = parts.length - FIELD_COUNT;
  if (surplus > 0) parts.splice(2, surplus + 1, parts.slice(2, 3 + surplus).join(','));
  const out: (string | undefined)[] = parts;
  while (out.length < FIELD_COUNT) out.push(undefined);
  return out;
}

/**
 * Parses the output of `nvidia-smi` run with NVIDIA_SMI_ARGS. Pure.
 * Throws NvidiaSmiError when the text holds no device rows but is not empty
 * (it is an error message); "No devices were found" yields no devices.
 */
export function parseNvidiaSmiCsv(text: string, nodeId: string, now: number): NvidiaSmiParse {
  const devices: Device[] = [];
  const telemetry: DeviceTelemetry[] = [];
  const warnings: string[] = [];
  const seen = new Set<number>();

  for (const rawLine of text.split(/\r?\n|\r/)) {
    const line = rawLine.trim();
    if (line === '') continue;
    const f = splitRow(line).map(field);
    // splitRow pads to FIELD_COUNT, so every position is present.
    const at = (k: number): FieldValue => f[k] ?? { value: null, fault: false };
    const idx = at(0).value ?? '';
    const uuid = at(1).value;
    const name = at(2).value;
    if (!/^\d+$/.test(idx) || !uuid || !name) {
      // "No devices were found" is nvidia-smi's way of printing zero rows.
      if (!/^no devices were found/i.test(line)) warnings.push(line);
      continue;
    }
    const i = Number(idx);
    if (seen.has(i)) {
      warnings.push(`duplicate GPU index ${i} ignored: ${line}`);
      continue;
    }
    seen.add(i);
    const eccUncorrected = num(at(11));
    const fault = f.some((v) => v.fault);
    devices.push({
      index: i,
      uuid,
      name,
      simulated: false,
      // Unknown total memory is reported as 0 rather than guessed; the device stays listed.
      memoryTotalMb: num(at(4)) ?? 0,
      pciBusId: at(3).value,
      healthy: !fault && !(eccUncorrected !== null && eccUncorrected > 0),
    });
    telemetry.push({
      nodeId,
      index: i,
      at: now,
      utilizationPct: num(at(6)),
      memoryUsedMb: num(at(5)),
      temperatureC: num(at(8)),
      powerW: num(at(9)),
      eccCorrected: num(at(10)),
      eccUncorrected,
    });
  }

  if (devices.length === 0 && warnings.length > 0) {
    const output = warnings.join('\n');
    throw new NvidiaSmiError(`nvidia-smi gave no device rows: ${warnings[0]}`, output);
  }
  devices.sort((a, b) => a.index - b.index);
  telemetry.sort((a, b) => a.index - b.index);
  return { devices, telemetry, warnings };
}

/** Runs a program and returns its output; rejects like node's execFile (error with `code`, `killed`, `stdout`, `stderr`). */
export type ExecFileFn = (file: string, args: readonly string[], options: { timeout: number; maxBuffer: number }) => Promise<{ stdout: string; stderr: string }>;

export const defaultExecFile: ExecFileFn = (file, args, options) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { ...options, encoding: 'utf8', killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });

export interface NvidiaSmiOptions {
  nodeId: string;
  now: () => number;
  /** @default defaultExecFile */
  exec?: ExecFileFn;
  /** @default "nvidia-smi" (looked up on PATH) */
  binary?: string;
  /** @default NVIDIA_SMI_TIMEOUT_MS */
  timeoutMs?: number;
}

interface ExecError {
  code?: unknown;
  killed?: boolean;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  message?: string;
}

/**
 * Runs nvidia-smi and parses its rows. Resolves null when nvidia-smi is not
 * installed (the node has no NVIDIA devices). Rejects with NvidiaSmiError when
 * it is installed but fails, times out, or prints no rows; when it exits
 * non-zero yet printed some rows (one GPU of several is lost), the rows are
 * used and the rest is in `warnings`.
 */
export async function queryNvidiaSmi(opts: NvidiaSmiOptions): Promise<NvidiaSmiParse | null> {
  const exec = opts.exec ?? defaultExecFile;
  const binary = opts.binary ?? 'nvidia-smi';
  const timeoutMs = opts.timeoutMs ?? NVIDIA_SMI_TIMEOUT_MS;
  let stdout: string;
  let exitCode: number | null = 0;
  let stderr = '';
  try {
    ({ stdout, stderr } = await exec(binary, NVIDIA_SMI_ARGS, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }));
  } catch (e) {
    const err = (e ?? {}) as ExecError;
    if (err.code === 'ENOENT') return null;
    const output = `${err.stdout ?? ''}\n${err.stderr ?? ''}`.trim();
    if (err.killed || err.signal) {
      throw new NvidiaSmiError(`nvidia-smi did not answer within ${timeoutMs} ms (the driver may be hung)`, output, null, { cause: e });
    }
    if (typeof err.code !== 'number') throw new NvidiaSmiError(`cannot run nvidia-smi: ${err.message ?? String(e)}`, output, null, { cause: e });
    exitCode = err.code;
    stdout = err.stdout ?? '';
    stderr = err.stderr ?? '';
    if (stdout.trim() === '') {
      const first = output.split('\n')[0] ?? '';
      throw new NvidiaSmiError(`nvidia-smi exited with code ${exitCode}${first ? `: ${first}` : ''}`, output, exitCode, { cause: e });
    }
  }
  try {
    const parsed = parseNvidiaSmiCsv(stdout, opts.nodeId, opts.now());
    if (stderr.trim() !== '') parsed.warnings.push(...stderr.trim().split(/\r?\n/));
    return parsed;
  } catch (e) {
    if (e instanceof NvidiaSmiError) throw new NvidiaSmiError(e.message, `${stdout}\n${stderr}`.trim(), exitCode, { cause: e });
    throw e;
  }
}
