import type { Command } from 'commander';
import { isJobSort, JOB_SORTS } from '../../core/job-sort.js';
import { JOB_STATES, type JobState } from '../../core/types.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { JOB_HEADERS, jobRow, keyValues, printJson, printLine, table, UsageError } from '../output.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export const lsCommand: CommandDef = {
  name: 'ls',
  summary: 'List jobs, newest first (or --sort), filtered by state, queue, label, owner or name',
  example: 'gpuq ls --state queued,running\ngpuq ls --queue train --label team=vision --limit 20\ngpuq ls --owner me\ngpuq ls --name resnet --sort -priority',
  register(cmd: Command) {
    commonOptions(cmd)
      .option('-s, --state <states>', `comma-separated: ${JOB_STATES.join(',')}`)
      .option('-q, --queue <queue>', 'only this queue')
      .option('-l, --label <k=v>', 'only jobs with this label (repeatable)', collect)
      .option('--owner <token>', 'only jobs submitted with this token: its id (tok_…), "me", or its name')
      .option('--name <text>', 'only jobs whose name contains this (ASCII letters in either case)')
      .option('--sort <order>', `one of ${JOB_SORTS.join(', ')} (default -id: newest first)`)
      .option('-n, --limit <n>', 'at most this many (default 50)', (v) => Number(v), 50)
      .action((o: CommonOptions & { state?: string; queue?: string; label?: string[]; owner?: string; name?: string; sort?: string; limit: number }) =>
        runAction(async () => {
          const states = o.state?.split(',').filter(Boolean) as JobState[] | undefined;
          for (const s of states ?? []) if (!JOB_STATES.includes(s)) throw new UsageError(`--state: "${s}" is not one of ${JOB_STATES.join(', ')}`);
          if (o.sort !== undefined && !isJobSort(o.sort)) throw new UsageError(`--sort: "${o.sort}" is not one of ${JOB_SORTS.join(', ')}`);
          const sort = o.sort !== undefined && isJobSort(o.sort) ? o.sort : undefined;
          const res = await clientFor(o).list({ state: states, queue: o.queue, labels: keyValues('--label', o.label), owner: o.owner, name: o.name, sort, limit: o.limit });
          if (o.json) return printJson(res);
          printLine(table(JOB_HEADERS, res.jobs.map((j) => jobRow(j))));
          if (res.nextCursor) printLine(`… more: use --limit, or the API's cursor ${res.nextCursor}`);
        }),
      );
  },
};
