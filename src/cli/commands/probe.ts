import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { duration, printJson, printLine, warn } from '../output.js';
import { waitForJobs } from './wait.js';

export const probeCommand: CommandDef = {
  name: 'probe',
  summary: 'Deploy check: submit a noop job and exit 0 only if it completes end to end before the deadline',
  example: 'gpuq probe --timeout 10 || echo "gpuq is not processing jobs"',
  register(cmd: Command) {
    commonOptions(cmd)
      .option('-t, --timeout <seconds>', 'deadline (default 30)', (v) => Number(v), 30)
      .option('-q, --queue <queue>', 'queue to probe (default "default")', 'default')
      .action((o: CommonOptions & { timeout: number; queue: string }) =>
        runAction(async () => {
          const client = clientFor(o);
          const t0 = performance.now();
          const { job } = await client.submit({ type: 'noop', name: 'gpuq-probe', queue: o.queue, labels: { 'gpuq.probe': 'true' } });
          const { jobs, timedOut } = await waitForJobs(client, [job.id], Date.now() + o.timeout * 1000);
          const elapsed = performance.now() - t0;
          const final = jobs[0]!;
          const ok = final.state === 'succeeded';
          if (o.json) printJson({ ok, jobId: job.id, state: final.state, elapsedMs: elapsed, timedOut });
          else if (ok) printLine(`probe ok: job ${job.id} succeeded end to end in ${duration(elapsed)}`);
          else warn(`probe FAILED: job ${job.id} is ${final.state} after ${duration(elapsed)}${timedOut ? ' (deadline passed)' : ''}`);
          if (ok) return EXIT.OK;
          if (timedOut) {
            await client.cancel(job.id, 'probe deadline passed').catch(() => {});
            return EXIT.TIMEOUT;
          }
          return EXIT.FAILED;
        }),
      );
  },
};
