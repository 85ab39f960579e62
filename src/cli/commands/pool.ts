import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Pool } from '../../core/pool-spec.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { printJson, printLine, UsageError } from '../output.js';
import { describePool, poolTable } from '../pools/pool-format.js';
import { createSpec, needsCurrentPolicy, parseSpecFile, specOptions, splitAtDash, updatePatch, type PoolFlagValues } from '../pools/spec-flags.js';
import { registerTaskCommands } from '../pools/task-commands.js';

type SpecOptions = CommonOptions & PoolFlagValues;

async function readSpecFile(file: string | undefined): Promise<Record<string, unknown> | undefined> {
  if (file === undefined) return undefined;
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
    }
  }
  return parseSpecFile(file === '-' ? 'stdin' : file, text);
}

/** "0..2 replicas, 1 GPU each, 4 tasks at a time". */
function sizing(p: Pool): string {
  const s = p.spec;
  return `${s.minReplicas}..${s.maxReplicas} replicas, ${s.gpus} GPU${s.gpus === 1 ? '' : 's'} each, ${s.concurrency} task${s.concurrency === 1 ? '' : 's'} at a time per replica`;
}

/** A lifecycle subcommand on one pool: `act` returns the JSON answer and the line to print. */
function poolAction<T>(parent: Command, name: string, description: string, act: (client: ReturnType<typeof clientFor>, pool: string, o: CommonOptions & { reason?: string }) => Promise<T>, line: (res: T, pool: string) => string): Command {
  return commonOptions(parent.command(name).description(description))
    .argument('<name>', 'pool name')
    .action((pool: string, o: CommonOptions & { reason?: string }) =>
      runAction(async () => {
        const res = await act(clientFor(o), pool, o);
        if (o.json) printJson(res);
        else printLine(line(res, pool));
      }),
    );
}

export const poolCommand: CommandDef = {
  name: 'pool',
  summary: 'Warm worker pools: long-lived GPU workers that keep a model loaded and answer small tasks. create, ls, show, update, stop, start, evict, delete, submit, task, tasks, replay',
  example: [
    'gpuq pool create embed --gpus 1 --max-replicas 4 --concurrency 8 -- python embed_worker.py',
    'gpuq pool create -f embed.json --min-replicas 1      # flags override the file\'s fields',
    'gpuq pool ls',
    'gpuq pool submit embed --payload \'{"text": "hello"}\' --wait     # prints the result',
    'gpuq pool submit embed -f inputs.jsonl                # one payload per line; prints the task IDs',
    'gpuq pool task embed 17 --wait 30',
    'gpuq pool tasks embed --dlq && gpuq pool replay embed --all',
    'gpuq pool update embed --max-replicas 8               # replicas of the old spec are replaced one by one',
    'gpuq pool stop embed && gpuq pool delete embed',
  ].join('\n'),
  register(cmd: Command) {
    specOptions(commonOptions(cmd.command('create').description('create a pool from flags and the worker command after -- (or a spec file); its minimum replicas start at once')), 'a JSON spec file (- for stdin); the flags and NAME override its fields')
      .argument('[name]', 'pool name (default: "name" in the spec file)')
      .argument('[command...]', 'the worker program and its arguments, after --: it speaks the pool protocol on stdin/stdout')
      .action((name: string | undefined, command: string[], o: SpecOptions) =>
        runAction(async () => {
          const operands = name === undefined ? command : [name, ...command];
          const split = splitAtDash(operands, process.argv);
          if (split.before.length > 1) throw new UsageError(`unexpected arguments before --: ${split.before.slice(1).join(' ')} (the worker command goes after --)`);
          const spec = createSpec({ file: await readSpecFile(o.file), name: split.before[0], command: split.command, flags: o, cwd: process.cwd() });
          const res = await clientFor(o).createPool(spec);
          if (o.json) return printJson(res);
          printLine(`created pool ${res.pool.name}: ${sizing(res.pool)}`);
        }),
      );

    commonOptions(cmd.command('ls').description('list pools: replicas ready/live (max), GPUs held, backlog, throughput, last cold start'))
      .action((o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).listPools();
          if (o.json) return printJson(res);
          printLine(poolTable(res.pools));
        }),
      );

    commonOptions(cmd.command('show').description('show a pool: its definition, backlog, throughput, last cold start, and its replicas'))
      .argument('<name>', 'pool name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).getPool(name);
          if (o.json) return printJson(res);
          printLine(describePool(res.pool, Date.now()));
        }),
      );

    specOptions(commonOptions(cmd.command('update').description('change a pool: flags, a new worker command after --, or a patch file; running replicas are replaced one by one')), 'a JSON file of the fields to change (- for stdin); the flags override its fields')
      .argument('<name>', 'pool name')
      .argument('[command...]', 'a new worker command, after --')
      .action((name: string, command: string[], o: SpecOptions) =>
        runAction(async () => {
          const split = splitAtDash([name, ...command], process.argv);
          if (split.before.length === 0) throw new UsageError('give the pool NAME before --');
          // A stray word must not silently become a running pool's new worker command: that takes the --.
          if (split.before.length > 1 || (!split.dash && split.command.length > 0)) throw new UsageError(`unexpected arguments: ${[...split.before.slice(1), ...split.command].join(' ')} (a new worker command goes after --)`);
          const client = clientFor(o);
          const file = await readSpecFile(o.file);
          // The API replaces memoryPolicy whole: a single memory flag keeps the pool's other memory settings.
          const current = needsCurrentPolicy(o, file) ? (await client.getPool(name)).pool.spec.memoryPolicy : undefined;
          const patch = updatePatch({ file, command: split.command, flags: o, cwd: process.cwd(), ...(current ? { current } : {}) });
          const res = await client.updatePool(name, patch);
          if (o.json) return printJson(res);
          printLine(`updated pool ${res.pool.name} to generation ${res.pool.generation}: ${sizing(res.pool)}; running replicas of older generations are replaced one by one`);
        }),
      );

    poolAction(cmd, 'stop', 'stop a pool: no replica starts, running ones finish their in-flight tasks and exit; new tasks are refused, queued ones wait',
      (c, pool) => c.stopPool(pool), (res) => `stopped pool ${res.pool.name}: its replicas finish their in-flight tasks and exit; queued tasks wait for \`gpuq pool start ${res.pool.name}\``);
    poolAction(cmd, 'start', 'start a stopped pool again', (c, pool) => c.startPool(pool), (res) => `started pool ${res.pool.name}`);
    poolAction(cmd, 'evict', 'kill a pool\'s replicas now (their in-flight tasks are redelivered); the pool starts fresh ones as it needs', (c, pool, o) => c.evictPool(pool, o.reason),
      (res, pool) => `evicted ${res.evicted.length} replica(s) of ${pool}${res.evicted.length ? `: ${res.evicted.join(' ')}` : ''}`).option('--reason <text>', 'why, recorded with each replica\'s end');
    poolAction(cmd, 'delete', 'delete a pool and its tasks; its live replicas are evicted', (c, pool) => c.deletePool(pool),
      (res, pool) => `deleted pool ${pool}${res.evicted.length ? `; evicted replica(s) ${res.evicted.join(' ')}` : ''}`);

    commonOptions(cmd.command('stop-all').description('stop every pool (e.g. before maintenance); `gpuq pool start NAME` brings each back'))
      .action((o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).stopAllPools();
          if (o.json) return printJson(res);
          printLine(`stopped ${res.stopped.length} pool(s)${res.stopped.length ? `: ${res.stopped.join(' ')}` : ''}`);
        }),
      );

    registerTaskCommands(cmd);
  },
};
