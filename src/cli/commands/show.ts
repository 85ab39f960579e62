import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { duration, parseIds, printJson, printLine, table } from '../output.js';

export const showCommand: CommandDef = {
  name: 'show',
  summary: 'Show a job: spec, state, every attempt and every transition',
  example: 'gpuq show 42\ngpuq show 42 --json | jq .attempts',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('<id>', 'job ID')
      .action((id: string, o: CommonOptions) =>
        runAction(async () => {
          const [jobId] = parseIds([id]);
          const d = await clientFor(o).get(jobId!);
          if (o.json) return printJson(d);
          const j = d.job;
          const t = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
          printLine(`job ${j.id}  ${j.name}  [${j.state}${j.inDlq ? ', in DLQ' : ''}]`);
          printLine(`  queue ${j.queue}  priority ${j.priority}  gpus ${j.gpus}  attempts ${j.attempts}/${j.attemptLimit}`);
          const cmdline = j.spec.shell !== undefined ? `sh -c ${JSON.stringify(j.spec.shell)}` : j.type === 'noop' ? '(noop)' : (j.spec.command ?? []).map((a) => JSON.stringify(a)).join(' ');
          printLine(`  command ${cmdline}`);
          printLine(`  created ${t(j.createdAt)}  finished ${t(j.finishedAt)}`);
          if (j.owner !== null) printLine(`  owner   ${j.owner} (${j.ownerTokenId})`);
          if (j.reason) printLine(`  reason  ${j.reason}`);
          if (d.waiting) printLine(`  waiting ${d.waiting}`);
          if (d.dependencies.length) {
            const dep = (x: (typeof d.dependencies)[number]) => `${x.jobId} (${x.met ? 'succeeded' : (x.state ?? 'purged')})`;
            printLine(`  after   ${d.dependencies.map(dep).join(', ')}`);
          }
          if (Object.keys(j.spec.labels).length) printLine(`  labels  ${Object.entries(j.spec.labels).map(([k, v]) => `${k}=${v}`).join(' ')}`);
          // A live attempt flagged idle: its GPUs have all stayed under the idle utilization (gpuq up --idle-*).
          const idle = d.attempts.find((a) => a.idleSince !== null && (a.state === 'running' || a.state === 'assigned'));
          if (idle) printLine(`  IDLE    attempt ${idle.number}: GPUs ${idle.devices.join(',')} on ${idle.nodeId} idle since ${t(idle.idleSince)}`);
          if (d.attempts.length) {
            printLine('\nattempts:');
            printLine(table(['#', 'STATE', 'NODE', 'GPUS', 'EXIT', 'RUN', 'REASON'], d.attempts.map((a) => [
              a.number, a.state + (a.idleSince === null ? '' : a.endedAt === null ? ' IDLE' : ' (ended idle)'), a.nodeId, a.devices.join(',') || '-', a.exitCode ?? a.signal ?? '-',
              a.startedAt !== null && a.endedAt !== null ? duration(a.endedAt - a.startedAt) : '-', a.reason ?? '',
            ])));
          }
          const usage = d.attempts.flatMap((a) => a.gpuUsage.map((u) => ({ a, u })));
          if (usage.length) {
            const pct = (v: number | null) => (v === null ? '-' : `${v.toFixed(1)} %`);
            printLine('\nGPU usage (live figures for a running attempt):');
            printLine(table(['#', 'GPU', 'GPU-SECONDS', 'MEAN UTIL', 'PEAK UTIL', 'PEAK MEM', 'IDLE', 'SAMPLES'], usage.map(({ a, u }) => [
              a.number, u.device, u.gpuSeconds.toFixed(1), pct(u.meanUtilizationPct), pct(u.peakUtilizationPct),
              u.peakMemoryMb === null ? '-' : `${Math.round(u.peakMemoryMb)} MiB`, `${u.idleSeconds.toFixed(1)} s`, u.samples,
            ])));
          }
          printLine('\nevents:');
          printLine(table(['TIME', 'ATTEMPT', 'TRANSITION', 'REASON'], d.events.map((e) => [t(e.at), e.attempt ?? '-', `${e.from ?? '∅'} → ${e.to}`, e.reason ?? ''])));
        }),
      );
  },
};
