import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { JOB_HEADERS, jobRow, parseIds, printJson, printLine, table, UsageError } from '../output.js';

type SelectOptions = CommonOptions & { all?: boolean; queue?: string };

function selector(ids: string[], o: SelectOptions): { ids: number[] } | { all: true; queue?: string } {
  if (o.all && ids.length) throw new UsageError('give job IDs or --all, not both');
  if (o.all) return { all: true, ...(o.queue ? { queue: o.queue } : {}) };
  if (!ids.length) throw new UsageError('give job IDs, or --all [--queue Q]');
  return { ids: parseIds(ids) };
}

export const dlqCommand: CommandDef = {
  name: 'dlq',
  summary: 'The dead-letter queue: jobs that failed every attempt. ls, replay, purge',
  example: 'gpuq dlq ls\ngpuq dlq replay 42 43\ngpuq dlq replay --all --queue train\ngpuq dlq purge --all',
  register(cmd: Command) {
    commonOptions(cmd.command('ls').description('list jobs in the DLQ'))
      .option('-q, --queue <queue>', 'only this queue')
      .option('-n, --limit <n>', 'at most this many', (v) => Number(v), 100)
      .action((o: CommonOptions & { queue?: string; limit: number }) =>
        runAction(async () => {
          const res = await clientFor(o).dlq({ queue: o.queue, limit: o.limit });
          if (o.json) return printJson(res);
          printLine(table([...JOB_HEADERS, 'REASON'], res.jobs.map((j) => [...jobRow(j), j.reason ?? ''])));
        }),
      );
    commonOptions(cmd.command('replay').description('run DLQ jobs again, with a fresh attempt budget'))
      .argument('[ids...]', 'job IDs')
      .option('--all', 'every job in the DLQ')
      .option('-q, --queue <queue>', 'with --all: only this queue')
      .action((ids: string[], o: SelectOptions) =>
        runAction(async () => {
          const res = await clientFor(o).replay(selector(ids, o));
          if (o.json) printJson(res);
          else printLine(`replayed ${res.replayed} job(s)${res.ids.length ? `: ${res.ids.join(' ')}` : ''}`);
        }),
      );
    commonOptions(cmd.command('purge').description('remove jobs from the DLQ (they stay failed until retention)'))
      .argument('[ids...]', 'job IDs')
      .option('--all', 'every job in the DLQ')
      .option('-q, --queue <queue>', 'with --all: only this queue')
      .action((ids: string[], o: SelectOptions) =>
        runAction(async () => {
          const res = await clientFor(o).purgeDlq(selector(ids, o));
          if (o.json) printJson(res);
          else printLine(`purged ${res.purged} job(s) from the DLQ`);
        }),
      );
  },
};
