import type { Schedule, ScheduleFire } from '../../core/schedule-spec.js';
import { ago, table } from '../output.js';

/**
 * `gpuq schedule show NAME` as text: the definition (cron, target, missed-time policy), its state, its last fire
 * and the latest fires the server returned (newest first), each with the run or job it started. No next fire time:
 * the server does not send one, and the CLI does not compute times of its own from the cron.
 */
export function describeSchedule(schedule: Schedule, fires: ScheduleFire[], now: number): string[] {
  const s = schedule.spec;
  const when = (ms: number) => `${new Date(ms).toISOString()} (${ago(ms, now)} ago)`;
  const lines = [
    `schedule ${schedule.name}: "${s.cron}" (UTC), missed times: ${s.missed}`,
    `  target: ${targetDetail(s.target)}`,
    `  state: ${schedule.paused ? 'paused' : 'active'}`,
    `  last fire: ${schedule.lastFireAt === null ? 'none yet' : when(schedule.lastFireAt)}`,
    `  created: ${when(schedule.createdAt)}`,
  ];
  if (fires.length === 0) lines.push('  fires: none recorded');
  // A fire's run is stored with it; a job fire's job id is recorded just after the job is submitted ('-' until then).
  else lines.push(table(['FIRE (UTC)', 'STARTED'], fires.map((f) => [new Date(f.fireAt).toISOString(), f.runId !== null ? `run ${f.runId}` : f.jobId !== null ? `job ${f.jobId}` : null])));
  return lines;
}

function targetDetail(t: Schedule['spec']['target']): string {
  if ('pipeline' in t) return `a run of pipeline ${t.pipeline} (no inputs)`;
  const j = t.job;
  const what = j.shell ?? (j.command ?? []).join(' ');
  return `job ${j.name} in queue ${j.queue}, ${j.gpus} GPU(s)${what ? `: ${what}` : ` (type ${j.type})`}`;
}
