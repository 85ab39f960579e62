import type { Command } from 'commander';
import type { FeedEvent, FeedResync } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { printJson, printLine, UsageError } from '../output.js';

const time = (at: number) => new Date(at).toISOString().replace(/\.(\d{3})Z$/, '.$1Z');

/** One event as a line: id, time, type, and what happened. */
export function eventLine(e: FeedEvent | FeedResync): string {
  if (e.type === 'resync') return `resync  ${e.reason} (events go on from ${e.oldestId})`;
  const what = (() => {
    switch (e.type) {
      case 'job.state': {
        const where = e.nodeId ? ` on ${e.nodeId}${e.devices.length > 0 ? ` GPUs ${e.devices.join(',')}` : ''}` : '';
        const attempt = e.attempt !== null ? ` attempt ${e.attempt}` : '';
        return `job ${e.jobId} (${e.name}, queue ${e.queue}) ${e.from ?? 'submitted'} → ${e.to}${attempt}${where}${e.inDlq ? ' [DLQ]' : ''}${e.reason ? `: ${e.reason}` : ''}`;
      }
      case 'job.idle':
        return `job ${e.jobId} attempt ${e.attemptId} on ${e.nodeId} GPUs ${e.devices.join(',')}: ${e.idle ? 'GPUs IDLE' : 'GPUs busy again'}`;
      case 'node.state':
        return `node ${e.nodeId} (${e.hostname}) ${e.state}`;
      case 'node.admin':
        return `node ${e.nodeId} ${e.adminState}`;
      case 'device.health':
        return `node ${e.nodeId} GPU ${e.index} (${e.uuid}) ${e.healthy ? 'healthy' : 'UNHEALTHY'}`;
      case 'maintenance':
        return `maintenance mode ${e.mode}`;
      case 'leader':
        return `leader ${e.holder} (term ${e.term}${e.url ? `, ${e.url}` : ''})`;
      case 'pool.created':
      case 'pool.updated':
        return `pool ${e.pool} ${e.type === 'pool.created' ? 'created' : 'updated'} (generation ${e.generation})`;
      case 'pool.stopped':
      case 'pool.started':
      case 'pool.deleted':
        return `pool ${e.pool} ${e.type.slice(5)}`;
      case 'pool.replica.ready':
        return `pool ${e.pool} replica job ${e.jobId} ready (attempt ${e.attemptId}, generation ${e.generation})`;
      case 'pipeline.run.ended':
        return `pipeline ${e.pipeline} run ${e.run} ${e.state}${e.reason ? `: ${e.reason}` : ''}${e.outputs ? ` (${e.outputs.length} output(s))` : ''}${e.source ? ` [from ${e.source}]` : ''}`;
    }
  })();
  return `${String(e.id).padStart(6)}  ${time(e.at)}  ${e.type.padEnd(13)} ${what}`;
}

interface EventsCliOptions extends CommonOptions {
  follow?: boolean;
  type?: string;
  job?: number;
  queue?: string;
  after?: number;
  limit: number;
}

export const eventsCommand: CommandDef = {
  name: 'events',
  summary: 'The event feed: job state changes, nodes up/down and cordons, device health, maintenance and leader changes',
  example: 'gpuq events                      # the latest 50\ngpuq events --follow --type job   # job changes as they happen\ngpuq events -f --job 42 --json    # one JSON object per line\ngpuq events --after 1200          # what happened since event 1200',
  register(cmd: Command) {
    commonOptions(cmd)
      .option('-f, --follow', 'keep printing events as they happen (resumes by itself if the connection breaks)')
      .option('--type <types>', 'only these types, comma-separated: job.state, job.idle, node.state, node.admin, device.health, maintenance, leader, pool.created, pool.updated, pool.stopped, pool.started, pool.deleted, pool.replica.ready, pipeline.run.ended, or job / node / pool / pipeline')
      .option('--job <id>', 'only this job\'s events', (v) => Number(v))
      .option('-q, --queue <queue>', 'only this queue\'s events')
      .option('--after <id>', 'events after this event id (default: the latest --limit; with --follow, from now on)', (v) => Number(v))
      .option('-n, --limit <n>', 'without --follow: at most this many (default 50)', (v) => Number(v), 50)
      .action((o: EventsCliOptions) =>
        runAction(async () => {
          if (o.job !== undefined && !(Number.isInteger(o.job) && o.job > 0)) throw new UsageError('--job: must be a job ID (a positive integer)');
          if (o.after !== undefined && !(Number.isInteger(o.after) && o.after >= 0)) throw new UsageError('--after: must be an event id (a non-negative integer)');
          const client = clientFor(o);
          const filter = { types: o.type?.split(',').map((t) => t.trim()).filter(Boolean), job: o.job, queue: o.queue, after: o.after };
          if (!o.follow) {
            const page = await client.listEvents({ ...filter, limit: o.limit });
            if (o.json) return printJson(page);
            if (page.resync) printLine(eventLine({ type: 'resync', ...page.resync }));
            for (const e of page.events) printLine(eventLine(e));
            return;
          }
          const stop = new AbortController();
          process.once('SIGINT', () => stop.abort());
          process.once('SIGTERM', () => stop.abort());
          for await (const e of client.events({ ...filter, signal: stop.signal })) printLine(o.json ? JSON.stringify(e) : eventLine(e));
        }),
      );
  },
};
