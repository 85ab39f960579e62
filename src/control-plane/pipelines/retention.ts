import { promises as fs } from 'node:fs';
import path from 'node:path';
import { WORK_AREAS } from '../../core/trigger-spec.js';
import type { Fence } from '../../store/leadership.js';
import type { Store } from '../../store/store.js';
import { removeRunDir } from './run-files.js';

/** Runs removed per store call. */
const BATCH = 100;

/**
 * Retention of pipelines (ADR 0018), run by the leader's housekeeping with the jobs' retention: runs that ended
 * before `before` lose their run directory, then their record (the directory first, so a crash in between leaves
 * a record whose directory is gone, removed again next time, never a directory no record names). Returns how many
 * runs were removed.
 */
export async function purgePipelineRuns(store: Store, write: <T>(fn: (fence: Fence) => Promise<T>) => Promise<T>, before: number): Promise<number> {
  let total = 0;
  for (;;) {
    const runs = await store.endedPipelineRunsBefore(before, BATCH);
    if (runs.length === 0) return total;
    for (const r of runs) await removeRunDir(r.runDir);
    total += await write((fence) => store.deletePipelineRuns(runs.map((r) => r.id), fence));
    if (runs.length < BATCH) return total;
  }
}

/**
 * Files in the `done/` area of each directory trigger moved there before `before` (their change time: the move
 * into done/), removed; `failed/` is kept for an operator to look at and retry. Returns how many were removed.
 */
export async function purgeDoneFiles(store: Store, before: number): Promise<number> {
  let removed = 0;
  for (const t of await store.listTriggers()) {
    const done = path.join(t.spec.directory, WORK_AREAS.done);
    const names = await fs.readdir(done).catch(() => [] as string[]);
    for (const name of names) {
      const file = path.join(done, name);
      const stat = await fs.lstat(file).catch(() => null);
      if (!stat?.isFile() || stat.ctimeMs >= before) continue;
      await fs.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
