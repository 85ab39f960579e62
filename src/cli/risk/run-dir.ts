/**
 * The files of a sharded risk run, in one directory every job of the run can read and write: the plan
 * (run.json, written before any job is submitted), one output per shard (shard-K.bin), how far each
 * shard is (shard-K.progress, while it runs) and the reduced result (result.json). Every file is written to a temporary name and renamed into place, so a reader
 * never sees half of one and a retried shard simply replaces its output.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RangeOutput } from '../../risk/engine.js';
import { decodeRange, encodeRange } from '../../risk/range-file.js';
import { parseRunPlan, type RiskRunPlan } from '../../risk/run-plan.js';

const planFile = (dir: string) => path.join(dir, 'run.json');
const shardFile = (dir: string, shard: number) => path.join(dir, `shard-${String(shard).padStart(4, '0')}.bin`);
export const resultFile = (dir: string) => path.join(dir, 'result.json');
const progressFile = (dir: string, shard: number) => path.join(dir, `shard-${String(shard).padStart(4, '0')}.progress`);

/** Writes `data` to `file` through a temporary file in the same directory and a rename. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

export function writePlan(dir: string, plan: RiskRunPlan): void {
  writeAtomic(planFile(dir), `${JSON.stringify(plan, null, 2)}\n`);
}

export function readPlan(dir: string): RiskRunPlan {
  let text: string;
  try {
    text = readFileSync(planFile(dir), 'utf8');
  } catch (e) {
    throw new Error(`cannot read the run's plan ${planFile(dir)}: ${(e as Error).message} (the run directory must be reachable from every node that runs the run's jobs)`);
  }
  return parseRunPlan(JSON.parse(text));
}

export function writeShardOutput(dir: string, plan: RiskRunPlan, shard: number, out: RangeOutput): void {
  writeAtomic(shardFile(dir, shard), encodeRange(plan.runId, shard, out));
}

export function readShardOutput(dir: string, plan: RiskRunPlan, shard: number): RangeOutput {
  let bytes: Buffer;
  try {
    bytes = readFileSync(shardFile(dir, shard));
  } catch (e) {
    throw new Error(`shard ${shard}'s output is missing: ${(e as Error).message} (its job succeeded, so it wrote it on the node it ran on: the run directory must be one filesystem every node running the run's jobs mounts)`);
  }
  const out = decodeRange(bytes, plan.runId, shard);
  const want = plan.ranges[shard]!;
  if (out.firstBlock !== want.firstBlock || out.endBlock !== want.endBlock) {
    throw new Error(`shard ${shard}'s output covers blocks ${out.firstBlock}…${out.endBlock - 1}, its plan ${want.firstBlock}…${want.endBlock - 1}`);
  }
  return out;
}

/** How far a shard is: blocks of paths done, of its range's. */
export interface ShardProgress {
  blocksDone: number;
  blocks: number;
}

export function writeProgress(dir: string, shard: number, p: ShardProgress): void {
  writeAtomic(progressFile(dir, shard), JSON.stringify(p));
}

/** A shard's progress, or null when it has not started (or the directory cannot be read from here). */
export function readProgress(dir: string, shard: number): ShardProgress | null {
  try {
    const p = JSON.parse(readFileSync(progressFile(dir, shard), 'utf8')) as ShardProgress;
    return Number.isFinite(p.blocksDone) && Number.isFinite(p.blocks) ? p : null;
  } catch {
    return null;
  }
}
