import type { Command } from 'commander';
import type { GpuqClient } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { JOB_HEADERS, jobRow, parseIds, printJson, printLine, table, UsageError } from '../output.js';

type SelectOptions = CommonOptions & { all?: boolean; queue?: string };

type DlqSelector = { ids: number[] } | { all: true; queue?: string };

function selector(ids: string[], o: SelectOptions): DlqSelector {
  if (o.all && ids.length) throw new UsageError('give job IDs or --all, not both');
  if (o.all) return { all: true, ...(o.queue ? { queue: o.queue } : {}) };
  if (!ids.length) throw new UsageError('give job IDs, or --all [--queue Q]');
  return { ids: parseIds(ids) };
}

/** A DLQ subcommand acting on job IDs or on --all [--queue Q]; `act` returns the JSON result and the line to print. */
function selectingCommand(parent: Command, name: string, description: string, act: (client: GpuqClient, sel: DlqSelector) => Promise<[unknown, string]>): void {
  commonOptions(parent.command(name).description(description))
    .argument('[ids...]', 'job IDs')
    .option('--all', 'every job in the DLQ')
    .option('-q, --queue <queue>', 'with --all: only this queue')
    .action((ids: string[], o: SelectOptions) =>
      runAction(async () => {
        const [json, line] = await act(clientFor(o), selector(ids, o));
        if (o.json) printJson(json);
        else printLine(line);
      }),
    );
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
    selectingCommand(cmd, 'replay', 'run DLQ jobs again, with a fresh attempt budget', async (client, sel) => {
      const res = await client.replay(sel);
      const again = res.failedAgain?.length ? `\n${res.failedAgain.length} of them failed again at once, a job they depend on being failed (gpuq show ID): ${res.failedAgain.join(' ')}` : '';
      return [res, `replayed ${res.replayed} job(s)${res.ids.length ? `: ${res.ids.join(' ')}` : ''}${again}`];
    });
    selectingCommand(cmd, 'purge', 'remove jobs from the DLQ (they stay failed until retention)', async (client, sel) => {
      const res = await client.purgeDlq(sel);
      return [res, `purged ${res.purged} job(s) from the DLQ`];
    });
  },
};
