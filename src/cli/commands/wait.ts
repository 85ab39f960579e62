import type { Command } from 'commander';
import type { Job } from '../../core/types.js';
import type { GpuqClient } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { parseIds, printJson, printLine, table, JOB_HEADERS, jobRow } from '../output.js';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Waits until every job is final or the deadline passes, calling `progress` at the start and after each change.
 * Follows the event feed (GET /v1/events): it notes the feed's head, reads each job once, then applies the
 * job.state events after that head, so a change between the read and the stream is never missed, and no job
 * is polled.
 */
export async function waitForJobs(client: GpuqClient, ids: number[], deadline: number, progress?: (jobs: Job[]) => void): Promise<{ jobs: Job[]; timedOut: boolean }> {
  const { lastEventId } = await client.listEvents({ types: ['job.state'], limit: 1 });
  const latest = new Map<number, Job>();
  for (const id of ids) latest.set(id, (await client.get(id)).job);
  const current = () => ids.map((id) => latest.get(id)!);
  const allFinal = () => current().every((j) => FINAL.has(j.state));
  progress?.(current());
  if (allFinal()) return { jobs: current(), timedOut: false };
  if (Date.now() >= deadline) return { jobs: current(), timedOut: true };

  const stop = new AbortController();
  const timer = deadline === Infinity ? null : setTimeout(() => stop.abort(), deadline - Date.now());
  try {
    const wanted = new Set(ids);
    const stream = client.events({ types: ['job.state'], ...(ids.length === 1 ? { job: ids[0] } : {}), after: lastEventId, signal: stop.signal });
    for await (const e of stream) {
      if (e.type === 'resync') {
        // Events were lost to retention: read the jobs again.
        for (const id of ids) latest.set(id, (await client.get(id)).job);
      } else if (e.type === 'job.state' && wanted.has(e.jobId)) {
        const job = latest.get(e.jobId)!;
        latest.set(e.jobId, { ...job, state: e.to, reason: e.reason, inDlq: e.inDlq, nodeId: e.nodeId, devices: e.devices, updatedAt: e.at });
      } else continue;
      progress?.(current());
      if (allFinal()) break;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
  } finally {
    if (timer) clearTimeout(timer);
    stop.abort();
  }
  if (!allFinal()) return { jobs: current(), timedOut: true };
  // The final rows as the server has them (finish time, attempts), as before.
  for (const id of ids) latest.set(id, (await client.get(id)).job);
  return { jobs: current(), timedOut: false };
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
