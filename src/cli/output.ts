import type { Job } from '../core/types.js';

/** Results go to stdout; diagnostics and progress go to stderr. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLine(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function warn(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** A plain aligned table. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!))).join('  ')).join('\n');
}

export function ago(ms: number, now = Date.now()): string {
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function duration(ms: number): string {
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(2)} s`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

export function jobRow(j: Job, now = Date.now()): (string | number)[] {
  const where = j.nodeId ? `${j.nodeId}${j.devices.length ? `:${j.devices.join(',')}` : ''}` : '-';
  return [j.id, j.name, j.queue, j.state + (j.inDlq ? ' (dlq)' : ''), j.gpus, `${j.attempts}/${j.attemptLimit}`, ago(j.createdAt, now), where];
}

export const JOB_HEADERS = ['ID', 'NAME', 'QUEUE', 'STATE', 'GPUS', 'ATTEMPTS', 'AGE', 'NODE:GPUS'];

/** Parses repeated key=value options into a record; throws a usage error naming the option. */
export function keyValues(option: string, items: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items ?? []) {
    const i = item.indexOf('=');
    if (i <= 0) throw new UsageError(`${option} takes KEY=VALUE, got "${item}"`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Bad command-line input; exits with EXIT.USAGE. */
export class UsageError extends Error {}

export function parseIds(args: string[]): number[] {
  return args.map((a) => {
    if (!/^[1-9][0-9]{0,14}$/.test(a)) throw new UsageError(`"${a}" is not a job ID (a positive integer)`);
    return Number(a);
  });
}
