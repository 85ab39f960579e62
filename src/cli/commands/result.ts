import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { parseIds, printJson, table, warn } from '../output.js';

export const resultCommand: CommandDef = {
  name: 'result',
  summary: 'Print the JSON result a job left in $GPUQ_RESULT_FILE (pretty, on stdout) and its artifacts (on stderr)',
  example: 'gpuq result 42\ngpuq result 42 | jq .var99\ngpuq result 42 --attempt 1 --json',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('<id>', 'job ID')
      .option('--attempt <n>', 'a given attempt (default: the latest that reported one)', (v) => Number(v))
      .action((id: string, o: CommonOptions & { attempt?: number }) =>
        runAction(async () => {
          const [jobId] = parseIds([id]);
          const r = await clientFor(o).result(jobId!, { attempt: o.attempt });
          if (o.json) return printJson(r);
          // The result alone on stdout, so it pipes into jq; what describes it goes to stderr.
          printJson(r.result ?? null);
          warn(`job ${r.jobId} attempt ${r.attempt} (${r.state} on ${r.nodeId})${r.result === null ? ': no result' : ''}`);
          if (r.note) warn(`note: ${r.note}`);
          if (r.artifacts.length > 0) warn(table(['ARTIFACT', 'BYTES'], r.artifacts.map((a) => [a.name, a.bytes])));
          else warn('no artifacts');
        }),
      );
  },
};
