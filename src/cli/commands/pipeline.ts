import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { PipelineRun, PipelineRunDetail } from '../../core/pipeline-run.js';
import type { RunInputSpec } from '../../sdk/pipelines-client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { ago, duration, printJson, printLine, table, UsageError } from '../output.js';

/** A definition file (a pipeline's, a trigger's): YAML (.yaml, .yml) or JSON; `-` reads standard input (YAML, which JSON is too). */
export async function readDefinition(file: string): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return /\.json$/i.test(file) ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new UsageError(`${file}: not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML'} (${(e as Error).message})`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `--input FILE`: the server reads the file at its absolute path; with --upload the CLI sends the bytes. */
async function inputsOf(files: string[], upload: boolean): Promise<RunInputSpec[]> {
  const out: RunInputSpec[] = [];
  for (const f of files) {
    if (!upload) out.push({ path: path.resolve(f) });
    else {
      const data = await readFile(f).catch((e: Error) => {
        throw new UsageError(`cannot read ${f}: ${e.message}`);
      });
      out.push({ name: path.basename(f), data: data.toString('base64') });
    }
  }
  return out;
}

const ENDED = new Set(['succeeded', 'failed', 'cancelled']);

function runLine(r: PipelineRun, now = Date.now()): (string | number)[] {
  return [r.id, r.pipeline, r.state, r.inputs.length, ago(r.createdAt, now), r.endedAt === null ? '-' : duration(r.endedAt - r.createdAt), r.reason ?? ''];
}
const RUN_HEADERS = ['RUN', 'PIPELINE', 'STATE', 'INPUTS', 'AGE', 'DURATION', 'REASON'];

function describeRun(r: PipelineRunDetail): string[] {
  const lines = [
    `run ${r.id} of pipeline ${r.pipeline}: ${r.state}${r.reason ? ` — ${r.reason}` : ''}`,
    `  started ${ago(r.createdAt)} ago${r.endedAt === null ? '' : `, took ${duration(r.endedAt - r.createdAt)}`}${r.owner ? ` by ${r.owner}` : ''}`,
    `  run directory ${r.runDir}`,
    `  inputs ${r.inputs.length === 0 ? '-' : r.inputs.join(', ')}`,
  ];
  const units = [
    ...r.jobs.map((j) => ({ step: j.step, lane: j.lane, unit: `job ${j.jobId}`, state: j.state as string, reason: j.reason })),
    ...r.tasks.map((t) => ({ step: t.step, lane: t.lane, unit: `task ${t.taskId} (pool ${t.pool})`, state: t.state ?? 'gone', reason: t.error })),
  ].sort((a, b) => a.step - b.step || a.lane - b.lane);
  const rows = units.map((u) => {
    const step = r.spec.steps[u.step]!;
    return [step.name, step.fanOut ? `${u.lane} (${r.inputs[u.lane] ?? ''})` : '-', u.unit, u.state, u.reason ?? ''];
  });
  lines.push(table(['STEP', 'LANE', 'RUNS AS', 'STATE', 'REASON'], rows));
  if (r.outputs) lines.push(`  outputs in ${r.spec.outputDir}: ${r.outputs.map((o) => o.name).join(', ') || 'none (the last step wrote no file)'}`);
  if (r.onFailureJobId !== null) lines.push(`  on-failure job ${r.onFailureJobId}`);
  return lines;
}

export const pipelineCommand: CommandDef = {
  name: 'pipeline',
  summary: 'Pipelines: steps run as jobs linked by dependsOn or as warm-pool tasks, files passed through a run directory, outputs published. create, ls, show, delete, run, runs, status',
  example: [
    'gpuq pipeline create -f etl.yaml            # steps, fan-out, on-failure job, output directory (operator)',
    'gpuq pipeline run etl --input a.csv --input b.csv --wait',
    'gpuq pipeline status 12                       # each step\'s jobs, outputs, reason',
    'gpuq pipeline runs --pipeline etl',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('create').description('define a pipeline from a YAML or JSON file (operator; audited)'))
      .requiredOption('-f, --file <file>', 'the definition: YAML or JSON (- for standard input)')
      .action((o: CommonOptions & { file: string }) =>
        runAction(async () => {
          const { pipeline } = await clientFor(o).createPipeline((await readDefinition(o.file)) as never);
          if (o.json) return printJson({ pipeline });
          printLine(`pipeline ${pipeline.name} created: ${pipeline.spec.steps.map((s) => `${s.name}${s.fanOut ? ' (per input)' : ''}`).join(' → ')}; outputs to ${pipeline.spec.outputDir}`);
        }),
      );

    commonOptions(cmd.command('ls').description('list pipelines')).action((o: CommonOptions) =>
      runAction(async () => {
        const { pipelines } = await clientFor(o).listPipelines();
        if (o.json) return printJson({ pipelines });
        printLine(table(['PIPELINE', 'STEPS', 'OUTPUT', 'CREATED'], pipelines.map((p) => [p.name, p.spec.steps.map((s) => s.name).join(' → '), p.spec.outputDir, `${ago(p.createdAt)} ago`])));
      }),
    );

    commonOptions(cmd.command('show').description('a pipeline\'s definition and its latest runs'))
      .argument('<name>', 'pipeline name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).getPipeline(name);
          if (o.json) return printJson(res);
          const s = res.pipeline.spec;
          printLine(`pipeline ${s.name}${s.description ? `: ${s.description}` : ''}`);
          for (const step of s.steps) {
            const what = step.job ? `${step.job.shell ?? (step.job.command ?? []).join(' ')}  gpus ${step.job.gpus}  attempts ${step.job.maxAttempts}` : `a task of pool ${step.pool.name}`;
            printLine(`  step ${step.name}${step.fanOut ? ' (once per input)' : ''}: ${what}`);
          }
          if (s.onFailure) printLine(`  on failure: ${s.onFailure.shell ?? (s.onFailure.command ?? []).join(' ')}`);
          printLine(`  outputs to ${s.outputDir}`);
          if (res.runs.length > 0) printLine(table(RUN_HEADERS, res.runs.map((r) => runLine(r))));
        }),
      );

    commonOptions(cmd.command('delete').description('delete a pipeline definition; its runs are kept (operator; audited)'))
      .argument('<name>', 'pipeline name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).deletePipeline(name);
          if (o.json) return printJson(res);
          printLine(`pipeline ${name} deleted (its runs are kept)`);
        }),
      );

    commonOptions(cmd.command('run').description('start a run over input files; its jobs are yours'))
      .argument('<name>', 'pipeline name')
      .option('-i, --input <file>', 'an input file (repeatable); the server reads it at its absolute path', (v: string, prev: string[] = []) => [...prev, v])
      .option('--upload', 'send the input files\' bytes instead of their paths (a server on another machine; at most 8 MiB per run)')
      .option('--wait', 'wait for the run to end; exit 1 unless it succeeded')
      .action((name: string, o: CommonOptions & { input?: string[]; upload?: boolean; wait?: boolean }) =>
        runAction(async () => {
          const client = clientFor(o);
          let { run } = await client.runPipeline(name, await inputsOf(o.input ?? [], o.upload === true));
          if (!o.json) printLine(`run ${run.id} of pipeline ${name} started: ${run.jobs.length} job(s)${run.tasks.length > 0 ? `, ${run.tasks.length} pool task(s)` : ''}`);
          if (o.wait) run = await waitForRun(client, run.id);
          if (o.json) printJson({ run });
          else if (o.wait) for (const l of describeRun(run)) printLine(l);
          if (o.wait && run.state !== 'succeeded') process.exitCode = 1;
        }),
      );

    commonOptions(cmd.command('runs').description('pipeline runs, newest first'))
      .option('--pipeline <name>', 'only this pipeline\'s')
      .option('--limit <n>', 'at most this many (default 50)', (v) => Number(v))
      .action((o: CommonOptions & { pipeline?: string; limit?: number }) =>
        runAction(async () => {
          const res = await clientFor(o).listPipelineRuns({ ...(o.pipeline ? { pipeline: o.pipeline } : {}), ...(o.limit ? { limit: o.limit } : {}) });
          if (o.json) return printJson(res);
          printLine(table(RUN_HEADERS, res.runs.map((r) => runLine(r))));
        }),
      );

    commonOptions(cmd.command('status').description('one run: each step\'s jobs, the outputs, why it failed'))
      .argument('<run>', 'run ID')
      .option('--wait', 'wait for the run to end; exit 1 unless it succeeded')
      .action((id: string, o: CommonOptions & { wait?: boolean }) =>
        runAction(async () => {
          if (!/^[1-9][0-9]*$/.test(id)) throw new UsageError(`run must be a run ID (a positive integer), not "${id}"`);
          const client = clientFor(o);
          const run = o.wait ? await waitForRun(client, Number(id)) : (await client.getPipelineRun(Number(id))).run;
          if (o.json) printJson({ run });
          else for (const l of describeRun(run)) printLine(l);
          if (o.wait && run.state !== 'succeeded') process.exitCode = 1;
        }),
      );
  },
};

/** Waits until the run has ended, reading it every 250 ms (a run's end is not an event of the feed). */
async function waitForRun(client: ReturnType<typeof clientFor>, id: number): Promise<PipelineRunDetail> {
  for (;;) {
    const { run } = await client.getPipelineRun(id);
    if (ENDED.has(run.state)) return run;
    await new Promise((r) => setTimeout(r, 250));
  }
}
