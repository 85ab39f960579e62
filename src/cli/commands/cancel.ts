import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { parseIds, printJson, printLine, UsageError, warn } from '../output.js';
import { EXIT } from '../exit-codes.js';

export const cancelCommand: CommandDef = {
  name: 'cancel',
  summary: 'Cancel jobs (running ones get SIGTERM, then SIGKILL), or every job of a queue',
  example: 'gpuq cancel 42 43\ngpuq cancel --queue train --reason "bad data"',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('[ids...]', 'job IDs')
      .option('-q, --queue <queue>', 'cancel every queued and running job of this queue')
      .option('--reason <text>', 'recorded with the cancellation')
      .action((ids: string[], o: CommonOptions & { queue?: string; reason?: string }) =>
        runAction(async () => {
          const client = clientFor(o);
          if (o.queue) {
            if (ids.length) throw new UsageError('give job IDs or --queue, not both');
            const res = await client.cancelQueue(o.queue, o.reason);
            if (o.json) printJson(res);
            else printLine(`cancelled ${res.cancelled} job(s) in queue ${o.queue}${failedWith(res.dependentsFailed)}`);
            return;
          }
          if (!ids.length) throw new UsageError('give job IDs to cancel, or --queue Q');
          const results = [];
          let notCancelled = 0;
          for (const id of parseIds(ids)) {
            const r = await client.cancel(id, o.reason);
            results.push(r);
            if (!r.cancelled) {
              notCancelled++;
              warn(`job ${id} was already ${r.job.state}; nothing to cancel`);
            } else if (!o.json) printLine(`cancelled ${id}${failedWith(r.dependentsFailed)}`);
          }
          if (o.json) printJson(results);
          return notCancelled > 0 ? EXIT.FAILED : EXIT.OK;
        }),
      );
  },
};

/** The jobs that waited for what was cancelled and failed with it, for the printed line. */
function failedWith(ids: number[] | undefined): string {
  if (!ids?.length) return '';
  return `; ${ids.length} job(s) waiting for it failed: ${ids.slice(0, 20).join(' ')}${ids.length > 20 ? ' …' : ''}`;
}
