import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { printJson, printLine, UsageError } from '../output.js';

/** GET /v1/intake, as the CLI reads it (control-plane/intake/intake-service.ts IntakeView). */
interface IntakeView {
  paused: { all: boolean; sources: string[] };
  draining: boolean;
  leader: boolean;
  sources: { name: string; kind: string; state: string; from: string; deadLetter: string; received: number; acked: number; deadLettered: number; pending: number | null; lag: number | null; lastError: string | null }[];
  sinks: { name: string; kind: string; to: string; jobs: string; published: number; cursor: number | null; lastError: string | null }[];
}

type PauseOptions = CommonOptions & { all?: boolean };

function target(names: string[], o: PauseOptions): { all: true } | { sources: string[] } {
  if (o.all && names.length > 0) throw new UsageError('give source names or --all, not both');
  if (!o.all && names.length === 0) throw new UsageError('name the sources (see `gpuq intake ls`), or --all for every source');
  return o.all ? { all: true } : { sources: names };
}

const pausedLine = (p: IntakeView['paused']) => (p.all ? 'every source is stopped (emergency stop): `gpuq intake resume --all` to consume again' : p.sources.length === 0 ? 'no source is paused' : `paused: ${p.sources.join(', ')}`);

export const intakeCommand: CommandDef = {
  name: 'intake',
  summary: 'Broker intake (Redis Streams, NATS JetStream): list sources and sinks, pause and resume them; `pause --all` is the emergency stop. Operator to pause',
  example: [
    'gpuq intake ls                    # sources: state, received, acked, dead-lettered, pending, lag; sinks: published',
    'gpuq intake pause --all           # emergency stop: every source stops consuming within a second (durable, audited)',
    'gpuq intake resume --all          # consume again, from where it stopped',
    'gpuq intake pause orders          # one source',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('ls').description('sources and sinks with their state and counts'))
      .action((o: CommonOptions) =>
        runAction(async () => {
          const view = await clientFor(o).request<IntakeView>('GET', '/v1/intake');
          if (o.json) return printJson(view);
          const n = (v: number | null) => (v === null ? '-' : String(v));
          printLine(`${pausedLine(view.paused)}${view.draining ? '; the cluster drains, which stops every source' : ''}${view.leader ? '' : '; this server does not lead: its sources stand by'}`);
          printLine(['SOURCE', 'KIND', 'STATE', 'RECEIVED', 'ACKED', 'DEAD', 'PENDING', 'LAG', 'FROM'].join('\t'));
          for (const s of view.sources) printLine([s.name, s.kind, s.state, s.received, s.acked, s.deadLettered, n(s.pending), n(s.lag), s.from + (s.lastError ? `  (last error: ${s.lastError})` : '')].join('\t'));
          if (view.sinks.length > 0) {
            printLine(['SINK', 'KIND', 'JOBS', 'PUBLISHED', 'CURSOR', 'TO'].join('\t'));
            for (const s of view.sinks) printLine([s.name, s.kind, s.jobs, s.published, n(s.cursor), s.to + (s.lastError ? `  (last error: ${s.lastError})` : '')].join('\t'));
          }
        }),
      );
    for (const [verb, description] of [
      ['pause', 'stop consuming: the named sources, or every source with --all (the emergency stop); durable and audited'],
      ['resume', 'consume again, from where it stopped: the named sources, or with --all every source (clears every pause)'],
    ] as const) {
      commonOptions(cmd.command(verb).description(description))
        .argument('[sources...]', 'source names (see `gpuq intake ls`)')
        .option('--all', 'every source at once')
        .action((names: string[], o: PauseOptions) =>
          runAction(async () => {
            const res = await clientFor(o).request<{ paused: IntakeView['paused'] }>('POST', `/v1/intake/${verb}`, target(names, o));
            if (o.json) return printJson(res);
            printLine(pausedLine(res.paused));
          }),
        );
    }
  },
};
