import type { Command } from 'commander';
import { attemptContext } from '../../config.js';
import type { EngineChoice } from '../../risk/engine.js';
import type { Portfolio } from '../../risk/portfolio.js';
import type { GpuqClient } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { parseIds, printJson, printLine, UsageError, warn } from '../output.js';
import { runReduceJob } from '../risk/reduce-job.js';
import { formatReport, type RiskReport } from '../risk/report.js';
import { runShardJob } from '../risk/shard-job.js';
import { fetchReport, followRiskRun, loadPortfolio, submitRiskRun, type RiskRunOptions, type SubmittedRun } from '../risk/submit-run.js';

type RunFlags = CommonOptions & { paths?: string; seed?: string; settings?: string; shards: string; gpusPerShard?: string; engine: string; runDir?: string; queue?: string; priority?: string; wait: boolean };

const ENGINES = ['auto', 'cpu', 'cuda'];

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return Number(v);
}

function runOptions(f: RunFlags): RiskRunOptions {
  if (!ENGINES.includes(f.engine)) throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}, got "${f.engine}"`);
  if (f.seed !== undefined && !/^\d{1,20}$/.test(f.seed)) throw new UsageError(`--seed must be an unsigned integer, got "${f.seed}"`);
  return {
    paths: int('--paths', f.paths, 2),
    seed: f.seed,
    settings: f.settings,
    shards: f.shards === 'auto' ? 'auto' : int('--shards', f.shards, 1)!,
    gpusPerShard: int('--gpus-per-shard', f.gpusPerShard, 0),
    engine: f.engine as EngineChoice,
    runDir: f.runDir,
    queue: f.queue,
    priority: int('--priority', f.priority, -1000),
  };
}

/**
 * Submits a sharded run and follows it (progress on stderr when it is a terminal); prints the report, or
 * says why the run failed. Shared by `gpuq risk run` and `gpuq demo`.
 */
export async function runAndReport(client: GpuqClient, portfolio: Portfolio, o: RiskRunOptions & { json?: boolean; wait?: boolean }): Promise<{ code: number; report: RiskReport | null; run: SubmittedRun }> {
  const started = Date.now();
  const run = await submitRiskRun(client, portfolio, o);
  const tty = process.stderr.isTTY === true && !o.json;
  if (!o.json) warn(`risk run ${run.runId}: ${run.layout.why}; jobs ${run.shardJobs[0]}…${run.shardJobs[run.shardJobs.length - 1]} (shards) and ${run.reduceJob} (reduce); files in ${run.runDir}`);
  if (o.wait === false) {
    if (o.json) printJson(run);
    return { code: EXIT.OK, report: null, run };
  }
  const { jobs, reduce } = await followRiskRun(client, run, tty ? (line) => process.stderr.write(`\r\x1b[K${line}`) : undefined);
  if (tty) process.stderr.write('\n');
  if (reduce.state !== 'succeeded') {
    const failed = jobs.slice(0, -1).filter((j) => j.state !== 'succeeded');
    warn(`risk run ${run.runId} failed: reduce job ${reduce.id} ${reduce.state}${reduce.reason ? ` (${reduce.reason})` : ''}`);
    for (const j of failed) warn(`  shard job ${j.id} ${j.state}${j.reason ? `: ${j.reason}` : ''} — gpuq logs ${j.id}`);
    if (o.json) printJson({ ...run, state: reduce.state, reason: reduce.reason });
    return { code: EXIT.FAILED, report: null, run };
  }
  const report = await fetchReport(client, run.reduceJob);
  const wallSeconds = (Date.now() - started) / 1000;
  if (o.json) printJson({ ...run, wallSeconds, report });
  else printLine(`${formatReport(report)}\n\ndone in ${wallSeconds.toFixed(2)} s from submit to report: ${(report.pathSteps / wallSeconds / 1e6).toFixed(1)} M path-steps/s end to end`);
  return { code: EXIT.OK, report, run };
}

export const riskCommand: CommandDef = {
  name: 'risk',
  summary: 'Monte Carlo portfolio risk (VaR, ES) sharded over the cluster\'s GPUs (CPU where there are none)',
  example: [
    'gpuq risk run examples/risk/single-asset.json                    # one shard per GPU, then an exact reduce',
    'gpuq risk run book.json --paths 100000000 --shards 8 --gpus-per-shard 1',
    'gpuq risk run assets.csv --settings run.json --seed 7 --json',
    'gpuq risk run book.json --no-wait && gpuq risk report <reduce job>   # submit now, read the report later',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('run').description('split a risk run into shard jobs and a reduce job that depends on them; follow them and print VaR/ES'))
      .argument('<portfolio>', 'portfolio: JSON (assets, correlation, options, horizonDays, steps, paths, seed, confidenceLevels) or CSV of assets with --settings')
      .option('--paths <n>', 'simulated paths (overrides the portfolio\'s)')
      .option('--seed <n>', 'RNG seed, an unsigned 64-bit integer (overrides the portfolio\'s)')
      .option('--settings <file>', 'for a CSV portfolio: the rest of the run (horizonDays, steps, paths, seed, …) as JSON')
      .option('--shards <k>', '"auto": one per GPU (or per --gpus-per-shard GPUs), one per node without GPUs; or a number', 'auto')
      .option('--gpus-per-shard <g>', 'GPUs each shard job asks for (default 1 where the cluster has GPUs, else 0)')
      .option('--engine <name>', '"auto" (CUDA on a real GPU, else CPU), "cpu" or "cuda"', 'auto')
      .option('--run-dir <dir>', 'where the plan, shard outputs and result go; every node running the jobs must see it (default ./gpuq-risk/<run id>)')
      .option('--queue <name>', 'queue of the run\'s jobs')
      .option('--priority <n>', 'priority of the run\'s jobs')
      .option('--no-wait', 'submit and exit: print the run\'s job IDs')
      .action((file: string, f: RunFlags) =>
        runAction(async () => {
          const o = runOptions(f);
          const portfolio = loadPortfolio(file, o);
          return (await runAndReport(clientFor(f), portfolio, { ...o, json: f.json, wait: f.wait })).code;
        }),
      );
    commonOptions(cmd.command('report').description('print the report of a finished run from its reduce job (after --no-wait, or later)'))
      .argument('<reduce-job>', 'the run\'s reduce job ID')
      .action((id: string, f: CommonOptions) =>
        runAction(async () => {
          const [jobId] = parseIds([id]);
          const report = await fetchReport(clientFor(f), jobId!);
          if (f.json) printJson(report);
          else printLine(formatReport(report));
        }),
      );
    cmd
      .command('shard')
      .description('(run by a shard job) simulate one shard of a planned run')
      .requiredOption('--run-dir <dir>', 'the run directory')
      .requiredOption('--shard <k>', 'shard number, from 0')
      .option('--engine <name>', 'override the plan\'s engine: auto, cpu or cuda')
      .action((o: { runDir: string; shard: string; engine?: string }) =>
        runAction(async () => {
          if (o.engine !== undefined && !ENGINES.includes(o.engine)) throw new UsageError(`--engine must be one of ${ENGINES.join(', ')}`);
          await runShardJob({ runDir: o.runDir, shard: int('--shard', o.shard, 0)!, engine: o.engine as EngineChoice | undefined }, attemptContext(), printLine);
        }),
      );
    cmd
      .command('reduce')
      .description('(run by the reduce job) merge the shards\' outputs exactly and report')
      .requiredOption('--run-dir <dir>', 'the run directory')
      .action((o: { runDir: string }) =>
        runAction(async () => {
          runReduceJob({ runDir: o.runDir }, attemptContext(), printLine);
        }),
      );
  },
};
