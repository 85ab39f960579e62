import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommonOptions } from '../command.js';
import { printJson, printLine, UsageError } from '../output.js';

type PauseOptions = CommonOptions & { all?: boolean };

/**
 * `gpuq trigger|schedule pause|resume NAME… | --all`: the same two commands for both kinds, each with what
 * pausing means for it. `set` is the SDK call (setTriggersPaused, setSchedulesPaused).
 */
export function registerPauseCommands(
  cmd: Command,
  kind: 'trigger' | 'schedule',
  meaning: { pause: string; resume: string },
  set: (client: ReturnType<typeof clientFor>, names: string[] | 'all', paused: boolean) => Promise<{ changed: string[] }>,
): void {
  for (const [verb, paused] of [['pause', true], ['resume', false]] as const) {
    commonOptions(cmd.command(verb).description(meaning[verb]))
      .argument('[names...]', `${kind} names`)
      .option('--all', `every ${kind}`)
      .action((names: string[], o: PauseOptions) =>
        runAction(async () => {
          if (o.all && names.length > 0) throw new UsageError(`give ${kind} names or --all, not both`);
          if (!o.all && names.length === 0) throw new UsageError(`name the ${kind}s (see \`gpuq ${kind} ls\`), or --all`);
          const res = await set(clientFor(o), o.all ? 'all' : names, paused);
          if (o.json) return printJson(res);
          printLine(res.changed.length === 0 ? `nothing to ${verb}` : `${paused ? 'paused' : 'resumed'}: ${res.changed.join(', ')}`);
        }),
      );
  }
}
