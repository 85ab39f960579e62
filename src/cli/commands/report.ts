import type { Command } from 'commander';
import type { SloLine, SloReport } from '../../core/slo-report.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson, printLine, table } from '../output.js';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** Hours with three significant digits below 0.01 h, where a short run would otherwise read 0.000. */
const hours = (h: number): string => (h === 0 ? '0' : h < 0.01 ? h.toPrecision(3) : h.toFixed(3));

function formatValue(line: SloLine): string {
  const v = line.value;
  if (v === null) return 'n/a';
  switch (line.unit) {
    case 'percent':
      return `${v.toFixed(1)} %`;
    case 'seconds':
      return v < 10 ? `${v.toFixed(3)} s` : `${v.toFixed(1)} s`;
    case 'hours':
      return `${hours(v)} h`;
    case 'attempts':
      return v.toFixed(2);
    case 'count':
      return String(v);
  }
}

function formatStatus(line: SloLine): string {
  if (line.threshold === null) return '';
  return line.status === 'breached' ? 'BREACHED' : line.status;
}

const hoursList = (byKey: Record<string, number>) =>
  Object.entries(byKey)
    .sort((a, b) => b[1] - a[1])
    .map(([k, h]) => `${k} ${hours(h)}`)
    .join(', ') || '-';

/** The report as a table: one line per figure, each objective marked ok or BREACHED. */
export function formatReport(r: SloReport): string {
  const span = ((r.until - r.since) / 3_600_000).toFixed(1);
  const gpus = `${r.gpus.capacity}${r.gpus.simulated ? ' [SIMULATED]' : ''}`;
  return [
    `SLO report ${iso(r.since)} → ${iso(r.until)} (${span} h), queue: ${r.queue ?? 'all'}, GPUs: ${gpus}`,
    '',
    table(['FIGURE', 'VALUE', 'OBJECTIVE', 'STATUS'], r.lines.map((l) => [l.label, formatValue(l), l.threshold?.text ?? '', formatStatus(l)])),
    '',
    `GPU-hours by queue: ${hoursList(r.gpuHoursByQueue)}`,
    `GPU-hours by owner: ${hoursList(r.gpuHoursByOwner)}`,
  ].join('\n');
}

export const reportCommand: CommandDef = {
  name: 'report',
  summary: 'The SLO report over a time range: success rate, queue wait and run time percentiles, retries, DLQ inflow, GPU utilization and GPU-hours, each objective marked ok or BREACHED',
  example: 'gpuq report                     # the last 24 hours\ngpuq report --since 7d --queue train\ngpuq report --since 2025-01-01T00:00:00Z --until 2025-02-01T00:00:00Z --json\ngpuq report --fail-on-breach    # exits 1 when an objective is breached',
  register(cmd: Command) {
    commonOptions(cmd)
      .option('--since <when>', 'start of the range: a duration back from now (30m, 24h, 7d) or an ISO 8601 time (default 24h)')
      .option('--until <when>', 'end of the range, likewise (default now)')
      .option('-q, --queue <queue>', 'only this queue')
      .option('--fail-on-breach', 'exit 1 when an objective is breached')
      .action((o: CommonOptions & { since?: string; until?: string; queue?: string; failOnBreach?: boolean }) =>
        runAction(async () => {
          const r = await clientFor(o).report({ since: o.since, until: o.until, queue: o.queue });
          if (o.json) printJson(r);
          else printLine(formatReport(r));
          return o.failOnBreach && r.lines.some((l) => l.status === 'breached') ? EXIT.FAILED : EXIT.OK;
        }),
      );
  },
};
