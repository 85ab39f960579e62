import type { Command } from 'commander';
import type { Job } from '../../core/types.js';
import type { GpuqClient } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { parseIds, printJson, printLine, table, JOB_HEADERS, jobRow } from '../output.js';

const POLL_MS = 100;
const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Polls until every job is final or the deadline passes. Calls `progress` after each round. */
export async function waitForJobs(client: GpuqClient, ids: number[], deadline: number, progress?: (jobs: Job[]) => void): Promise<{ jobs: Job[]; timedOut: boolean }> {
  const latest = new Map<number, Job>();
  for (;;) {
    for (const id of ids) {
      const prev = latest.get(id);
      if (prev && FINAL.has(prev.state)) continue;
      latest.set(id, (await client.get(id)).job);
    }
    const jobs = ids.map((id) => latest.get(id)!);
    progress?.(jobs);
    if (jobs.every((j) => FINAL.has(j.state))) return { jobs, timedOut: false };
    if (Date.now() >= deadline) return { jobs, timedOut: true };
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function bar(jobs: Job[]): string {
  const done = jobs.filter((j) => FINAL.has(j.state)).length;
  const running = jobs.filter((j) => j.state === 'running').length;
  const width = 30;
  const filled = Math.round((done / jobs.length) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${jobs.length} done, ${running} running`;
}

export const waitCommand: CommandDef = {
  name: 'wait',
  summary: 'Wait until jobs end; exits 0 only if all succeeded (progress bar on a terminal)',
  example: 'gpuq wait 42 43 44\ngpuq wait --timeout 600 $(gpuq submit -- ./run.sh)',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('<ids...>', 'job IDs')
      .option('-t, --timeout <seconds>', 'give up after this long (exit 6)', (v) => Number(v))
      .action((ids: string[], o: CommonOptions & { timeout?: number }) =>
        runAction(async () => {
          const jobIds = parseIds(ids);
          const tty = process.stderr.isTTY && !o.json;
          const deadline = o.timeout === undefined ? Infinity : Date.now() + o.timeout * 1000;
          const { jobs, timedOut } = await waitForJobs(clientFor(o), jobIds, deadline, tty ? (js) => process.stderr.write(`\r${bar(js)}`) : undefined);
          if (tty) process.stderr.write('\n');
          if (o.json) printJson({ jobs, timedOut });
          else printLine(table(JOB_HEADERS, jobs.map((j) => jobRow(j))));
          if (timedOut) return EXIT.TIMEOUT;
          return jobs.every((j) => j.state === 'succeeded') ? EXIT.OK : EXIT.FAILED;
        }),
      );
  },
};
