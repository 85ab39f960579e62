/**
 * `gpuq risk reduce`: the last job of a sharded risk run, started once every shard succeeded (it depends
 * on them). Merges the shards' outputs exactly (engine.ts finishRun), checks the result against closed
 * forms where the portfolio has them, and leaves the report as its JSON result, as artifacts
 * (risk-report.json, histogram.csv, report.txt) and as result.json in the run directory.
 */
import path from 'node:path';
import type { AttemptContext } from '../../config.js';
import { closedFormChecks } from '../../risk/closed-form-checks.js';
import { finishRun, type RiskRunResult } from '../../risk/engine.js';
import { compileModel } from '../../risk/model.js';
import { formatReport, type RiskReport } from './report.js';
import { readPlan, readShardOutput, resultFile, writeAtomic } from './run-dir.js';


function reduceRun(runDir: string): RiskReport {
  const plan = readPlan(runDir);
  const outputs = plan.ranges.map((r) => readShardOutput(runDir, plan, r.shard));
  const p = plan.portfolio;
  const model = compileModel(p);
  const result = finishRun(p, model, plan.keep, plan.hist, outputs);
  return {
    runId: plan.runId,
    portfolio: { assets: p.assets.map((a) => a.id), options: p.options.length, horizonDays: p.horizonDays, paths: p.paths, steps: p.steps, seed: String(p.seed), measure: p.measure },
    shards: outputs.map((o, shard) => ({ shard, engine: o.engine, device: o.device, paths: o.shards.reduce((n, s) => n + s.paths, 0), seconds: o.seconds })),
    simulationSeconds: outputs.reduce((s, o) => s + o.seconds, 0),
    pathSteps: p.paths * p.steps,
    result,
    closedFormChecks: closedFormChecks(p, result),
  };
}

export function runReduceJob(o: { runDir: string }, ctx: AttemptContext, log: (line: string) => void): RiskReport {
  const report = reduceRun(o.runDir);
  const text = formatReport(report);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (ctx.resultFile) writeAtomic(ctx.resultFile, json);
  if (ctx.artifactsDir) {
    writeAtomic(path.join(ctx.artifactsDir, 'risk-report.json'), json);
    writeAtomic(path.join(ctx.artifactsDir, 'histogram.csv'), histogramCsv(report.result));
    writeAtomic(path.join(ctx.artifactsDir, 'report.txt'), `${text}\n`);
  }
  writeAtomic(resultFile(o.runDir), json);
  log(text);
  return report;
}

/** One row per bin: its lower and upper P&L edge and the paths that fell in it (underflow and overflow first and last). */
function histogramCsv(r: RiskRunResult): string {
  const h = r.histogram;
  const rows = ['from,to,paths', `-inf,${h.min},${h.underflow}`];
  h.counts.forEach((c, i) => rows.push(`${h.min + i * h.binWidth},${h.min + (i + 1) * h.binWidth},${c}`));
  rows.push(`${h.min + h.counts.length * h.binWidth},inf,${h.overflow}`);
  return `${rows.join('\n')}\n`;
}
