import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { GpuqError } from '../../core/errors.js';
import { completeFiles, WORK_AREAS, type Observation, type SeenFile, type Trigger } from '../../core/trigger-spec.js';
import type { MaintenanceMode } from '../../core/types.js';
import type { Fence } from '../../store/leadership.js';
import type { Store } from '../../store/store.js';
import type { OpenClaim } from '../../store/trigger-store.js';
import { SerialLoop } from '../serial-loop.js';
import type { PipelineService } from './pipeline-service.js';

/** A pass at least this often (a directory is listed every pollMs of its trigger, at most once a pass). */
const TICK_MS = 25;
/** The trigger definitions are read again this often, and at once after a change made through this server. */
const DEFINITIONS_MS = 1000;
/** Runs of one listing started at once: their store writes share commits, their file copies overlap. */
const START_CONCURRENCY = 8;

/**
 * The leader's directory triggers (ADR 0018). Passes follow each other every TICK_MS; each trigger's turn comes
 * every pollMs of its own, and then:
 * 1. its open claims move on: a claim without a run gets one (its file from `.processing/`, or still where it
 *    landed), one whose run ended has its file moved to `done/` or, with `<name>.reason.txt`, to `failed/`;
 * 2. unless it is paused or the cluster drains, its directory is listed (every pollMs) and each complete file
 *    (core/trigger-spec.ts completeFiles) is claimed: the claim is stored (fenced) first, then the file is moved to
 *    `.processing/<claim>-<name>`, then its run is started, recording the claim in the run's transaction.
 * A crash between any two steps leaves a claim that step 1 of the next leader takes on, so each file gets one run.
 */
export class TriggerController {
  private readonly loop: SerialLoop;
  private readonly seen = new Map<string, { at: number; observed: Map<string, Observation> }>();
  private definitions: { at: number; triggers: Trigger[] } | null = null;

  constructor(
    private readonly store: Store,
    private readonly pipelines: PipelineService,
    private readonly leaderWrite: <T>(write: (fence: Fence) => Promise<T>) => Promise<T>,
    private readonly maintenance: () => MaintenanceMode,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.loop = new SerialLoop(() => this.pass(), { periodMs: TICK_MS, minSpacingMs: 0, onError: (err) => this.log.warn({ err }, 'trigger pass failed; the next one retries') });
  }

  start(): void {
    this.seen.clear();
    this.definitions = null;
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** A pass soon; `changed`: a definition or a pause changed, read them again. */
  wake(changed = false): void {
    if (changed) this.definitions = null;
    this.loop.wake();
  }

  async pass(): Promise<void> {
    const now = this.clock.now();
    if (!this.definitions || now - this.definitions.at >= DEFINITIONS_MS) this.definitions = { at: now, triggers: await this.store.listTriggers() };
    for (const t of this.definitions.triggers) {
      // Each trigger's turn comes every pollMs: its claims followed, then its directory listed.
      const last = this.seen.get(t.name);
      if (last && now - last.at < t.spec.pollMs) continue;
      this.seen.set(t.name, { at: now, observed: last?.observed ?? new Map() });
      try {
        await this.followClaims(t);
        if (!t.paused && this.maintenance() === 'normal') await this.watch(t);
      } catch (err) {
        this.log.warn({ err, trigger: t.name }, 'directory trigger failed; the next pass retries');
      }
    }
  }

  private async followClaims(t: Trigger): Promise<void> {
    const dir = t.spec.directory;
    for (const c of await this.store.openTriggerClaims(t.name)) {
      const processing = path.join(dir, WORK_AREAS.processing, `${c.id}-${c.file}`);
      if (c.runId === null) await this.startRun(t, c, processing);
      else if (c.runState !== null && c.runState !== 'running') await this.settle(t, c, processing);
    }
  }

  /** A claim without a run: its file is in .processing/ (moved, then a crash) or still where it landed. */
  private async startRun(t: Trigger, c: OpenClaim, processing: string): Promise<void> {
    if (!(await exists(processing))) {
      const landed = path.join(t.spec.directory, c.file);
      if (!(await exists(landed))) {
        this.log.warn({ trigger: t.name, file: c.file, claim: c.id }, 'a claimed file vanished before its run started');
        return this.store.settleTriggerClaim(c.id, 'lost', this.clock.now());
      }
      await fs.mkdir(path.dirname(processing), { recursive: true });
      await fs.rename(landed, processing);
      if (t.spec.complete.mode === 'marker') await fs.rm(landed + t.spec.complete.suffix, { force: true });
    }
    if (this.maintenance() !== 'normal') return;
    try {
      const run = await this.pipelines.start(t.spec.pipeline, [{ path: processing, name: c.file }], null, { claim: c.id });
      this.log.info({ trigger: t.name, file: c.file, run: run.id }, 'file claimed: run started');
    } catch (err) {
      if (err instanceof GpuqError && err.code === 'CLAIM_TAKEN') return;
      throw err;
    }
  }

  /** A claim whose run ended: its file goes to done/ or failed/ (with the reason beside it). */
  private async settle(t: Trigger, c: OpenClaim, processing: string): Promise<void> {
    const ok = c.runState === 'succeeded';
    const area = path.join(t.spec.directory, ok ? WORK_AREAS.done : WORK_AREAS.failed);
    await fs.mkdir(area, { recursive: true });
    const target = await freeName(area, c.file, c.id);
    if (await exists(processing)) await fs.rename(processing, target);
    if (!ok) await fs.writeFile(`${target}.reason.txt`, `run ${c.runId} of pipeline ${t.spec.pipeline} ${c.runState}: ${c.runReason ?? ''}\n`);
    await this.store.settleTriggerClaim(c.id, ok ? 'done' : 'failed', this.clock.now());
  }

  private async watch(t: Trigger): Promise<void> {
    const now = this.clock.now();
    const before = this.seen.get(t.name)?.observed ?? new Map<string, Observation>();
    const entries = await fs.readdir(t.spec.directory, { withFileTypes: true });
    const names = new Set(entries.map((e) => e.name));
    const files: SeenFile[] = [];
    for (const e of entries) {
      if (!e.isFile()) continue;
      const st = await fs.stat(path.join(t.spec.directory, e.name)).catch(() => null);
      if (st) files.push({ name: e.name, size: st.size, mtimeMs: st.mtimeMs });
    }
    const { ready, observed } = completeFiles(t.spec, files, names, before, now);
    this.seen.set(t.name, { at: this.seen.get(t.name)?.at ?? now, observed });
    if (ready.length === 0) return;
    const ids = await this.leaderWrite((fence) => this.store.claimTriggerFiles(t.name, ready, this.clock.now(), fence));
    const claims = ids.map((id, i): OpenClaim => ({ id, trigger: t.name, file: ready[i]!, claimedAt: now, runId: null, runState: null, runReason: null }));
    for (let i = 0; i < claims.length; i += START_CONCURRENCY) {
      // A failure leaves its claim to the next pass (step 1), like a crash would.
      await Promise.all(claims.slice(i, i + START_CONCURRENCY).map((c) => this.startRun(t, c, path.join(t.spec.directory, WORK_AREAS.processing, `${c.id}-${c.file}`)).catch((err: unknown) => this.log.warn({ err, trigger: t.name, file: c.file }, 'could not start the run of a claimed file; the next pass retries'))));
    }
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

/** `name` in `dir`, or `name.<claim>` when a file of that name is there already (the same name may land twice). */
async function freeName(dir: string, name: string, claim: number): Promise<string> {
  const plain = path.join(dir, name);
  return (await exists(plain)) ? path.join(dir, `${name}.${claim}`) : plain;
}
