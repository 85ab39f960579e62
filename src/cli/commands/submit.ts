import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import type { JobSpecInput } from '../../core/job-spec.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { keyValues, printJson, printLine, UsageError } from '../output.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const num = (v: string) => Number(v);

interface SubmitOptions extends CommonOptions {
  name?: string;
  queue?: string;
  gpus?: number;
  cpus?: number;
  memoryMb?: number;
  priority?: number;
  maxAttempts?: number;
  timeout?: number;
  env?: string[];
  cwd?: string;
  label?: string[];
  selector?: string[];
  idempotencyKey?: string;
  shell?: string;
  noop?: boolean;
  file?: string;
  backoff?: number;
  after?: number[];
}

/** `--after 12,13 --after 14`: job IDs, comma-separated and repeatable, in the order given. */
const afterIds = (v: string, prev: number[] = []): number[] => {
  const ids = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ids.length === 0 || !ids.every((id) => /^[1-9][0-9]{0,14}$/.test(id))) throw new InvalidArgumentError('takes job IDs (positive integers), comma-separated, e.g. --after 12,13');
  return [...prev, ...ids.map(Number)];
};

export const submitCommand: CommandDef = {
  name: 'submit',
  summary: 'Submit a job; the command after -- runs with CUDA_VISIBLE_DEVICES set to its GPUs',
  example:
    'gpuq submit --gpus 2 --name train -- python train.py --epochs 10\ngpuq submit --shell "nvidia-smi -L | tee gpus.txt"\ngpuq submit --after 12,13 -- python reduce.py   # starts once jobs 12 and 13 succeeded\ngpuq submit --file jobs.json   # one spec or an array of specs',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('[command...]', 'program and arguments (after --)')
      .option('--name <name>', 'job name (default: the program name)')
      .option('-q, --queue <queue>', 'queue (default "default")')
      .option('-g, --gpus <n>', 'GPUs on one node', num)
      .option('--cpus <n>', 'CPU cores to reserve', num)
      .option('--memory-mb <n>', 'host memory to reserve, MiB', num)
      .option('-p, --priority <n>', 'higher runs first', num)
      .option('--max-attempts <n>', 'attempts before the job fails into the DLQ (default 5)', num)
      .option('--backoff <seconds>', 'initial retry backoff (default 5)', num)
      .option('-t, --timeout <seconds>', 'kill an attempt that runs longer', num)
      .option('-e, --env <KEY=VALUE>', 'environment variable (repeatable)', collect)
      .option('--cwd <dir>', 'working directory (default: the current one)')
      .option('-l, --label <k=v>', 'label (repeatable)', collect)
      .option('--selector <k=v>', 'run only on nodes with this label, e.g. gpu-model="NVIDIA H100 80GB HBM3" (repeatable)', collect)
      .option('--idempotency-key <key>', 'a second submit with the same key returns the first job')
      .option('--shell <line>', 'run a shell command line with /bin/sh -c instead of a program')
      .option('--noop', 'a job that runs nothing (probes)')
      .option('--after <ids>', 'start only after these jobs succeeded (comma-separated job IDs, repeatable); fails if one of them fails or is cancelled', afterIds)
      .option('-f, --file <path>', 'read the job spec (or an array of specs) as JSON from a file, - for stdin')
      .action((command: string[], o: SubmitOptions) =>
        runAction(async () => {
          const client = clientFor(o);
          if (o.file) {
            const text = o.file === '-' ? await readStdin() : await readFile(o.file, 'utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch (e) {
              throw new UsageError(`${o.file}: not valid JSON (${(e as Error).message})`);
            }
            const specs = (Array.isArray(parsed) ? parsed : [parsed]) as JobSpecInput[];
            const res = await client.submitBatch(specs);
            if (o.json) printJson(res);
            else for (const j of res.jobs) printLine(String(j.id));
            return;
          }
          const spec = buildSpec(command, o);
          const res = await client.submit(spec);
          if (o.json) printJson(res);
          else printLine(String(res.job.id));
        }),
      );
  },
};

function buildSpec(command: string[], o: SubmitOptions): JobSpecInput {
  if (o.noop && (command.length > 0 || o.shell)) throw new UsageError('--noop runs nothing: give no command');
  if (!o.noop && command.length === 0 && !o.shell) throw new UsageError('give a command after --, or --shell "...", or --noop');
  const spec: Record<string, unknown> = { type: o.noop ? 'noop' : 'exec' };
  if (command.length > 0) spec.command = command;
  if (o.shell) spec.shell = o.shell;
  if (!o.noop) spec.cwd = o.cwd ?? process.cwd();
  const simple: [keyof SubmitOptions, string][] = [
    ['name', 'name'], ['queue', 'queue'], ['gpus', 'gpus'], ['cpus', 'cpus'], ['memoryMb', 'memoryMb'], ['priority', 'priority'],
    ['maxAttempts', 'maxAttempts'], ['timeout', 'timeoutSeconds'], ['idempotencyKey', 'idempotencyKey'],
  ];
  for (const [from, to] of simple) if (o[from] !== undefined) spec[to] = o[from];
  if (o.backoff !== undefined) spec.backoff = { initialSeconds: o.backoff, maxSeconds: Math.max(300, o.backoff) };
  if (o.env) spec.env = keyValues('--env', o.env);
  if (o.label) spec.labels = keyValues('--label', o.label);
  if (o.selector) spec.nodeSelector = keyValues('--selector', o.selector);
  if (o.after) spec.dependsOn = o.after;
  return spec as JobSpecInput;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
