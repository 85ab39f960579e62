import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { argvOf } from '../core/job-spec.js';
import type { Device, NodeInfo } from '../core/types.js';
import type { AssignedAttempt, EndReport, StartReport } from '../store/store.js';
import type { AgentControl, ControlPlaneLink } from './agent-link.js';
import { TelemetrySampler, type DeviceSource } from './devices/discovery.js';
import type { ExecResult, RunningAttempt } from './executor.js';
import type { AttemptLauncher } from './launcher/protocol.js';
import { killAttemptProcesses } from './process-tree.js';

export interface AgentOptions {
  nodeId: string;
  hostname: string;
  labels: Record<string, string>;
  cpus: number;
  memoryMb: number;
  /** Most exec attempts run at once on this node (the scheduler keeps to it; see NodeInfo.maxRunning). */
  maxRunning: number;
  dataDir: string;
  heartbeatMs: number;
  telemetryMs: number;
  logCapBytes: number;
  killGraceMs: number;
  devices: DeviceSource;
  launcher: AttemptLauncher;
}

/**
 * Runs attempts on this machine: one process group per attempt, pinned to its
 * GPUs. Reports starts and ends to the control plane in batches (one store
 * transaction per event-loop turn, not one per attempt), renews leases with
 * heartbeats, and kills any process whose attempt the control plane no longer
 * considers live (reclaimed while this agent was away).
 */
export class LocalAgent implements AgentControl {
  readonly nodeId: string;
  private readonly running = new Map<number, RunningAttempt>();
  private readonly cancelReasons = new Map<number, string>();
  private started: StartReport[] = [];
  private ended: EndReport[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> = Promise.resolve();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private sampler: TelemetrySampler | null = null;
  private incarnation = '';

  constructor(
    private readonly link: ControlPlaneLink,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: AgentOptions,
  ) {
    this.nodeId = options.nodeId;
  }

  /**
   * Registers the node. Attempts the store still holds live on this node
   * belong to an earlier run of this agent that died with its processes'
   * parent: their orphaned processes are killed and the attempts reported
   * lost, so their jobs retry by policy.
   */
  async start(): Promise<void> {
    const devices = this.options.devices.devices;
    this.incarnation = `${process.pid}-${Math.round(this.clock.now())}`;
    const { liveAttemptIds } = await this.link.register(this.nodeInfo(devices));
    if (liveAttemptIds.length > 0) {
      const killed = (await killAttemptProcesses(liveAttemptIds)).length;
      const now = this.clock.now();
      await this.link.reportEnded(
        liveAttemptIds.map((id) => ({
          attemptId: id,
          end: { state: 'lost', retryable: true, reason: 'lost when gpuq restarted on this node' },
          exitCode: null,
          signal: null,
          endedAt: now,
        })),
      );
      this.log.warn({ attempts: liveAttemptIds.length, orphanProcessesKilled: killed }, 'reclaimed attempts of the previous run of this agent');
    }
    this.sampler = new TelemetrySampler(this.options.devices, this.options.telemetryMs, (samples) => {
      void this.link.heartbeat(this.nodeId, [], samples).catch((e: unknown) => this.log.error({ err: e }, 'telemetry report failed'));
    }, () => this.busyDevices(), { now: () => this.clock.now(), onError: (e) => this.log.warn({ err: e }, 'telemetry sample failed') });
    this.sampler.start();
    void this.sampler.sampleNow();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.options.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  run(attempts: AssignedAttempt[]): void {
    for (const a of attempts) {
      if (a.spec.type === 'noop') {
        const now = this.clock.now();
        this.ended.push({ attemptId: a.attemptId, startedAt: now, end: { state: 'succeeded', retryable: false, reason: 'noop' }, exitCode: null, signal: null, endedAt: now });
        continue;
      }
      this.spawn(a);
    }
    this.scheduleFlush();
  }

  cancel(attemptIds: number[], reason: string): void {
    for (const id of attemptIds) {
      const r = this.running.get(id);
      if (!r) continue;
      this.cancelReasons.set(id, reason);
      r.kill('cancel');
    }
  }

  /** Stops the agent: running attempts are killed and their ends reported (their jobs retry by policy). */
  async stop(): Promise<void> {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    await this.sampler?.stop();
    const all = [...this.running.values()];
    for (const r of all) r.kill('shutdown');
    await Promise.all(all.map((r) => r.done));
    this.flushing = this.flushing.then(() => this.flush());
    await this.flushing;
  }

  private spawn(a: AssignedAttempt): void {
    const dir = path.join(this.options.dataDir, 'jobs', String(a.jobId));
    const logPath = path.join(dir, `attempt-${a.number}.log`);
    const r = this.options.launcher.startAttempt({
      attemptId: a.attemptId,
      jobId: a.jobId,
      attemptNumber: a.number,
      argv: argvOf(a.spec),
      env: a.spec.env,
      cwd: a.spec.cwd,
      devices: a.devices,
      timeoutMs: a.spec.timeoutSeconds === undefined ? undefined : a.spec.timeoutSeconds * 1000,
      logPath,
      artifactsDir: path.join(dir, `artifacts-${a.number}`),
      logCapBytes: this.options.logCapBytes,
      killGraceMs: this.options.killGraceMs,
    });
    this.running.set(a.attemptId, r);
    r.started.then(
      (s) => {
        this.started.push({ attemptId: a.attemptId, pid: s.pid, logPath, startedAt: s.startedAt });
        this.scheduleFlush();
      },
      () => {},
    );
    void r.done.then((res) => this.onEnd(a.attemptId, res));
  }

  private onEnd(attemptId: number, res: ExecResult): void {
    this.running.delete(attemptId);
    const reason = this.cancelReasons.get(attemptId);
    this.cancelReasons.delete(attemptId);
    // A process that ended before its start was sent (the launcher holds starts back briefly for this): report both at once.
    const unsent = this.started.findIndex((s) => s.attemptId === attemptId);
    const start = unsent >= 0 ? this.started.splice(unsent, 1)[0]! : undefined;
    this.ended.push({
      attemptId,
      ...(start !== undefined ? { startedAt: start.startedAt, pid: start.pid, logPath: start.logPath } : {}),
      end: { state: res.state, retryable: res.retryable, reason: reason && res.state === 'cancelled' ? `cancelled: ${reason}` : res.reason },
      exitCode: res.exitCode,
      signal: res.signal,
      endedAt: res.endedAt,
    });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushing = this.flushing.then(() => this.flush());
    });
  }

  /** Sends buffered starts, then ends, each as one batch. Starts go first so an attempt is never ended before it is marked running. */
  private async flush(): Promise<void> {
    const started = this.started;
    const ended = this.ended;
    if (started.length === 0 && ended.length === 0) return;
    this.started = [];
    this.ended = [];
    try {
      if (started.length > 0) await this.link.reportStarted(started);
      if (ended.length > 0) await this.link.reportEnded(ended);
    } catch (e) {
      // The control plane is in this process: a failure here is the store failing. Keep the reports and retry.
      this.log.error({ err: e }, 'reporting attempts failed; retrying');
      this.started = started.concat(this.started);
      this.ended = ended.concat(this.ended);
      setTimeout(() => this.scheduleFlush(), 500).unref();
    }
  }

  private async heartbeat(): Promise<void> {
    const ids = [...this.running.keys()];
    try {
      const { liveAttemptIds } = await this.link.heartbeat(this.nodeId, ids, []);
      const live = new Set(liveAttemptIds);
      for (const id of ids) {
        const r = this.running.get(id);
        if (r && !live.has(id)) {
          this.log.warn({ attemptId: id }, 'attempt is no longer live at the control plane (reclaimed); killing it');
          r.kill('cancel');
        }
      }
    } catch (e) {
      this.log.error({ err: e }, 'heartbeat failed');
    }
  }

  private busyDevices(): Set<number> {
    const busy = new Set<number>();
    for (const r of this.running.values()) for (const d of r.devices) busy.add(d);
    return busy;
  }

  private nodeInfo(devices: Device[]): NodeInfo {
    const labels: Record<string, string> = { ...this.options.labels, hostname: this.options.hostname };
    const first = devices[0];
    if (first) {
      labels['gpu-model'] = first.name;
      labels['gpu-simulated'] = String(first.simulated);
    }
    return {
      id: this.nodeId,
      hostname: this.options.hostname,
      labels,
      cpus: this.options.cpus,
      memoryMb: this.options.memoryMb,
      maxRunning: this.options.maxRunning,
      devices,
      incarnation: this.incarnation,
      lastHeartbeatAt: this.clock.now(),
      state: 'up',
    };
  }
}
