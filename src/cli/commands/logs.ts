import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { parseIds } from '../output.js';

export const logsCommand: CommandDef = {
  name: 'logs',
  summary: 'Print a job\'s log (stdout and stderr of its latest attempt); -f follows it until the attempt ends',
  example: 'gpuq logs 42\ngpuq logs -f 42\ngpuq logs --attempt 1 --tail 100 42',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('<id>', 'job ID')
      .option('-f, --follow', 'stream new output until the attempt ends (waits for a queued job to start)')
      .option('--attempt <n>', 'a given attempt (default: the latest)', (v) => Number(v))
      .option('--tail <n>', 'only the last N lines', (v) => Number(v))
      .action((id: string, o: CommonOptions & { follow?: boolean; attempt?: number; tail?: number }) =>
        runAction(async () => {
          const [jobId] = parseIds([id]);
          const client = clientFor(o);
          if (o.follow) {
            for await (const chunk of client.followLogs(jobId!, o)) process.stdout.write(chunk);
          } else {
            process.stdout.write(await client.logs(jobId!, o));
          }
        }),
      );
  },
};
