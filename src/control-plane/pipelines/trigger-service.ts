import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../../core/clock.js';
import { PipelineNotFoundError, TriggerNotFoundError, ValidationError } from '../../core/errors.js';
import { parseTriggerSpec, WORK_AREAS, type Trigger } from '../../core/trigger-spec.js';
import type { AuditOf } from '../../store/access-store.js';
import type { Store } from '../../store/store.js';

/** Directory triggers' use cases (ADR 0018): definitions, pause and resume. The leader's TriggerController watches. */
export class TriggerService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly onChange: () => void,
  ) {}

  /** Refused when its pipeline does not exist or its directory is not a directory this server can read. */
  async create(input: unknown, audit?: AuditOf<Trigger>): Promise<Trigger> {
    const spec = parseTriggerSpec(input);
    if (!(await this.store.getPipeline(spec.pipeline))) throw new PipelineNotFoundError(spec.pipeline);
    const st = await fs.stat(spec.directory).catch((e: NodeJS.ErrnoException) => e);
    if (st instanceof Error) throw new ValidationError([{ path: 'directory', message: `cannot be read by the server: ${st.code ?? st.message}` }]);
    if (!st.isDirectory()) throw new ValidationError([{ path: 'directory', message: 'must be a directory' }]);
    const trigger = await this.store.createTrigger(spec, this.clock.now(), audit);
    this.onChange();
    return trigger;
  }

  async delete(name: string, audit?: AuditOf<boolean>): Promise<void> {
    if (!(await this.store.deleteTrigger(name, audit))) throw new TriggerNotFoundError(name);
  }

  list(): Promise<Trigger[]> {
    return this.store.listTriggers();
  }

  async trigger(name: string): Promise<Trigger> {
    const t = await this.store.getTrigger(name);
    if (!t) throw new TriggerNotFoundError(name);
    return t;
  }

  /**
   * Puts a file whose run failed back where files land (from failed/, its reason file removed): the trigger claims
   * it again and starts a new run. Refused when no such failed file exists or a file of its name waits already.
   */
  async retry(name: string, file: string): Promise<string> {
    const t = await this.trigger(name);
    if (file === '' || file === '.' || file === '..' || file.includes('/') || file.includes('\0')) throw new ValidationError([{ path: 'file', message: 'must be a file name in the trigger\'s failed/ directory' }]);
    const failed = path.join(t.spec.directory, WORK_AREAS.failed, file);
    const back = path.join(t.spec.directory, file);
    if (!(await fs.stat(failed).then((s) => s.isFile(), () => false))) throw new ValidationError([{ path: 'file', message: `no file ${file} in ${path.dirname(failed)}` }]);
    if (await fs.stat(back).then(() => true, () => false)) throw new ValidationError([{ path: 'file', message: `${back} exists: a file of that name waits already` }]);
    await fs.rename(failed, back);
    // It is complete: with markers, say so the way its writer did.
    if (t.spec.complete.mode === 'marker') await fs.writeFile(back + t.spec.complete.suffix, '');
    await fs.rm(`${failed}.reason.txt`, { force: true });
    this.onChange();
    return back;
  }

  /** Pauses or resumes the named triggers, or all; an unknown name is refused before anything changes. */
  async setPaused(names: string[] | 'all', paused: boolean, audit?: AuditOf<Trigger[]>): Promise<Trigger[]> {
    if (names !== 'all') for (const n of names) await this.trigger(n);
    const changed = await this.store.setTriggersPaused(names, paused, audit);
    this.onChange();
    return changed;
  }
}
