/**
 * `gpuq risk run`: plans a sharded risk run, writes the plan to the run directory, submits one job per
 * shard and a reduce job that depends on all of them, and follows them to the end. A shard that fails
 * is retried alone (its job's attempts); one that fails for good fails the reduce with its reason.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JobSpecInput } from '../../core/job-spec.js';
import type { Job } from '../../core/types.js';
import type { EngineChoice } from '../../risk/engine.js';
import { compileModel } from '../../risk/model.js';
import { parsePortfolioCsv, PortfolioValidationError, validatePortfolio, type Portfolio } from '../../risk/portfolio.js';
import { planRiskRun } from '../../risk/run-plan.js';
import type { GpuqClient } from '../../sdk/client.js';
import { waitForJobs } from '../commands/wait.js';
import { UsageError } from '../output.js';
import type { RiskReport } from './report.js';
import { readProgress, writePlan } from './run-dir.js';
import { shardLayout, type ShardLayout } from './shard-layout.js';

/** The CLI's entry point, which every job of the run executes (`node main.js risk shard …`). */
const CLI_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url));

export interface RiskRunOptions {
  paths?: number;
  seed?: string;
  /** A CSV portfolio's other settings (horizon, steps, levels…), as a JSON file. */
  settings?: string;
  shards: 'auto' | number;
  gpusPerShard?: number;
  engine: EngineChoice;
  /** The run directory. Default: <runRoot>/<run id>. */
  runDir?: string;
  /** Default: gpuq-risk under the current directory. */
  runRoot?: string;
  queue?: string;
  priority?: number;
}

export interface SubmittedRun {
  runId: string;
  runDir: string;
  /** Blocks of paths in the whole run (progress is counted in blocks). */
  blocks: number;
  layout: ShardLayout;
  shardJobs: number[];
  reduceJob: number;
}

/** Reads a JSON or CSV portfolio and applies --paths/--seed; throws PortfolioValidationError naming each field broken. */
export function loadPortfolio(file: string, o: Pick<RiskRunOptions, 'paths' | 'seed' | 'settings'>): Portfolio {
  const text = readText(file, 'portfolio');
  const overrides = { ...(o.paths === undefined ? {} : { paths: o.paths }), ...(o.seed === undefined ? {} : { seed: o.seed }) };
  if (!file.toLowerCase().endsWith('.csv')) return validatePortfolio({ ...parseJson(text, file), ...overrides });
  if (o.settings === undefined) throw new UsageError(`${file} is a CSV of assets: give the run's settings (horizonDays, steps, paths, seed, confidenceLevels…) with --settings FILE.json`);
  return parsePortfolioCsv(text, { ...parseJson(readText(o.settings, 'settings'), o.settings), ...overrides } as Parameters<typeof parsePortfolioCsv>[1]);
}

export async function submitRiskRun(client: GpuqClient, portfolio: Portfolio, o: RiskRunOptions): Promise<SubmittedRun> {
  const { nodes } = await client.nodes();
  const usable = nodes
    .filter((n) => n.state === 'up' && n.adminState === 'active')
    .map((n) => ({ id: n.id, cpus: n.cpus, gpus: n.devices.filter((d) => d.healthy).length }));
  const layout = shardLayout(usable, { shards: o.shards, gpusPerShard: o.gpusPerShard, blocks: compileModel(portfolio).blocks });
  const runId = `${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')}-${randomBytes(3).toString('hex')}`;
  const runDir = path.resolve(o.runDir ?? path.join(o.runRoot ?? 'gpuq-risk', runId));
  const plan = planRiskRun(portfolio, { runId, shards: layout.shards, engine: o.engine, cpuWorkers: layout.cpuWorkers });
  writePlan(runDir, plan);

  const common = { queue: o.queue, priority: o.priority, labels: { 'risk-run': runId } } satisfies Partial<JobSpecInput>;
  const shardSpecs: JobSpecInput[] = plan.ranges.map((r) => ({
    ...common,
    name: `risk-${runId}-shard-${r.shard}`,
    command: [process.execPath, CLI_ENTRY, 'risk', 'shard', '--run-dir', runDir, '--shard', String(r.shard)],
    gpus: layout.gpusPerShard,
    maxAttempts: 3,
    backoff: { initialSeconds: 1, maxSeconds: 30, multiplier: 2 },
  }));
  const { jobs } = await client.submitBatch(shardSpecs);
  const shardJobs = jobs.map((j) => j.id);
  const reduce = await client.submit({
    ...common,
    name: `risk-${runId}-reduce`,
    command: [process.execPath, CLI_ENTRY, 'risk', 'reduce', '--run-dir', runDir],
    dependsOn: shardJobs,
    maxAttempts: 2,
    backoff: { initialSeconds: 1, maxSeconds: 10, multiplier: 2 },
  });
  return { runId, runDir, blocks: plan.ranges[plan.ranges.length - 1]!.endBlock, layout, shardJobs, reduceJob: reduce.job.id };
}

/** Follows the run's jobs until the reduce job ends; `progress` gets a one-line summary after each poll. */
export async function followRiskRun(client: GpuqClient, run: SubmittedRun, progress?: (line: string) => void): Promise<{ jobs: Job[]; reduce: Job }> {
  const ids = [...run.shardJobs, run.reduceJob];
  const started = Date.now();
  // The shards' progress files, where the run directory is readable from here (always on one machine).
  const pathsDone = () => run.shardJobs.reduce((n, _, k) => n + (readProgress(run.runDir, k)?.blocksDone ?? 0), 0) / run.blocks;
  const { jobs } = await waitForJobs(client, ids, Infinity, (js) => progress?.(progressLine(js.slice(0, -1), js[js.length - 1]!, Date.now() - started, pathsDone())));
  return { jobs, reduce: jobs[jobs.length - 1]! };
}

export function progressLine(shards: Job[], reduce: Job, elapsedMs: number, pathsDone = 0): string {
  const count = (s: Job['state']) => shards.filter((j) => j.state === s).length;
  const done = count('succeeded');
  const width = 24;
  // The bar follows the paths simulated where the shards say, else the shards done.
  const fraction = Math.max(pathsDone, done / shards.length);
  const filled = Math.round(Math.min(1, fraction) * width);
  const retries = shards.reduce((n, j) => n + Math.max(0, j.attempts - 1), 0);
  const parts = [`${(Math.min(1, fraction) * 100).toFixed(0)}% of paths`, `${done}/${shards.length} shards done`, `${count('running')} running`];
  if (count('queued') + count('assigned') > 0) parts.push(`${count('queued') + count('assigned')} waiting`);
  if (retries > 0) parts.push(`${retries} retried`);
  if (count('failed') + count('cancelled') > 0) parts.push(`${count('failed') + count('cancelled')} failed`);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${parts.join(', ')}; reduce ${reduce.state} (${(elapsedMs / 1000).toFixed(1)} s)`;
}

/** The reduce job's report, as it left it for the API. */
export async function fetchReport(client: GpuqClient, reduceJob: number): Promise<RiskReport> {
  const r = await client.request<{ state: string; result: unknown }>('GET', `/v1/jobs/${reduceJob}/result`);
  const rep = r.result as Partial<RiskReport> | null;
  if (rep === null || typeof rep !== 'object' || typeof rep.runId !== 'string' || !Array.isArray(rep.result?.levels)) {
    throw new Error(`job ${reduceJob}'s latest attempt (${r.state}) left no risk report: is it a risk run's reduce job? (gpuq ls --label risk-run=RUN_ID lists a run's jobs)`);
  }
  return rep as RiskReport;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the ${what} file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function parseJson(text: string, file: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    throw new Error('not a JSON object');
  } catch (e) {
    throw new PortfolioValidationError([{ path: '', rule: 'json', message: `${file}: not a JSON object: ${(e as Error).message}` }]);
  }
}
