import type { Device, DeviceTelemetry } from '../../core/types.js';
import { fakeDevices, fakeTelemetry, type FakeDeviceLoad } from './fake-gpus.js';
import { queryNvidiaSmi, type ExecFileFn } from './nvidia-smi.js';

/**
 * Which devices a node has, and where their telemetry comes from.
 *   --fake-gpus N (N ≥ 1) → N simulated devices ('fake'), nvidia-smi is not run
 *   --fake-gpus 0         → no devices ('none'), nvidia-smi is not run
 *   otherwise             → nvidia-smi; absent → no devices ('none');
 *                           present but failing → NvidiaSmiError (the agent
 *                           should refuse to start rather than quietly offer
 *                           a GPU node with no GPUs)
 */

export type DeviceSourceKind = 'nvidia' | 'fake' | 'none';

export interface DiscoveryOptions {
  nodeId: string;
  fakeGpus?: number;
  now?: () => number;
  exec?: ExecFileFn;
  /** @default "nvidia-smi" */
  nvidiaSmi?: string;
}

/** What discovery found on this node, and how to sample it. */
export interface DeviceSource {
  source: DeviceSourceKind;
  nodeId: string;
  devices: Device[];
  /** Non-fatal oddities from nvidia-smi (a lost GPU's message line), for the agent to log. */
  warnings: string[];
  /** The nvidia-smi binary to sample with, when source is 'nvidia'. */
  nvidiaSmi?: string;
}

export async function discoverDevices(opts: DiscoveryOptions): Promise<DeviceSource> {
  const { nodeId } = opts;
  if (opts.fakeGpus !== undefined) {
    const devices = fakeDevices(nodeId, opts.fakeGpus);
    return { source: devices.length > 0 ? 'fake' : 'none', nodeId, devices, warnings: [] };
  }
  const r = await queryNvidiaSmi({ nodeId, now: opts.now ?? Date.now, exec: opts.exec, binary: opts.nvidiaSmi });
  if (r === null || r.devices.length === 0) return { source: 'none', nodeId, devices: [], warnings: r?.warnings ?? [] };
  return { source: 'nvidia', nodeId, devices: r.devices, warnings: r.warnings, nvidiaSmi: opts.nvidiaSmi };
}

export interface TelemetrySamplerOptions {
  /** @default Date.now */
  now?: () => number;
  /** Runs nvidia-smi. @default defaultExecFile */
  exec?: ExecFileFn;
  /** Called when a sample fails (nvidia-smi hung or broke); sampling goes on. @default ignore */
  onError?: (err: unknown) => void;
}

/**
 * What holds the node's devices now, for simulated telemetry: the indices an attempt holds, or those
 * indices with each attempt's load (fake-gpus.ts FakeDeviceLoad: its start and scripted utilization).
 */
export type DeviceLoads = ReadonlySet<number> | ReadonlyMap<number, FakeDeviceLoad>;

/**
 * Samples the devices of a DeviceSource every `intervalMs` and hands each
 * sample to `sink`: nvidia-smi for real devices; for fake devices a function
 * of `busy()` (what attempts hold now: DeviceLoads). A source with no devices is
 * never sampled. A sample still running when the next tick comes (a slow
 * nvidia-smi) makes that tick skip, so samples never pile up. The interval is
 * unref'd: it never keeps the process alive on its own.
 */
export class TelemetrySampler {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(
    private readonly source: DeviceSource,
    private readonly intervalMs: number,
    private readonly sink: (samples: DeviceTelemetry[]) => void,
    private readonly busy: () => DeviceLoads = () => new Set(),
    private readonly opts: TelemetrySamplerOptions = {},
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`telemetry interval must be above 0 ms, got ${intervalMs}`);
    this.now = opts.now ?? Date.now;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer || this.source.devices.length === 0) return;
    this.timer = setInterval(() => void this.sampleNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Stops the ticks; the returned promise settles when a sample in flight is done, after which nothing reaches the sink. */
  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.inFlight ?? Promise.resolve();
  }

  /** Takes one sample now (joins the one in flight, if any). */
  sampleNow(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = (async () => {
      try {
        const samples = await this.sample();
        this.sink(samples);
      } catch (err) {
        this.opts.onError?.(err);
      } finally {
        this.inFlight = null;
      }
    })();
    return this.inFlight;
  }

  private async sample(): Promise<DeviceTelemetry[]> {
    const { source, nodeId, devices } = this.source;
    switch (source) {
      case 'fake': {
        const busy = this.busy();
        return fakeTelemetry(nodeId, devices.length, busy instanceof Map ? (i) => busy.get(i) ?? null : (i) => busy.has(i), this.now());
      }
      case 'nvidia': {
        const r = await queryNvidiaSmi({ nodeId, now: this.now, exec: this.opts.exec, binary: this.source.nvidiaSmi });
        return r?.telemetry ?? [];
      }
      case 'none':
        return [];
    }
  }
}
