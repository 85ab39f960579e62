import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { ago, printJson, printLine, table } from '../output.js';
import { registerPauseCommands } from '../pipelines/pause-commands.js';
import { readDefinition } from './pipeline.js';

export const triggerCommand: CommandDef = {
  name: 'trigger',
  summary: 'Directory triggers: each file landing in a directory starts one run of a pipeline. create, ls, delete, pause, resume',
  example: [
    'gpuq trigger create -f inbox.yaml        # {name, pipeline, directory, complete: {mode: settle|marker|rename}, ignore}',
    'gpuq trigger ls',
    'gpuq trigger pause --all                 # nothing new is claimed (durable, audited); resume --all continues',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('create').description('watch a directory for a pipeline (operator; audited)'))
      .requiredOption('-f, --file <file>', 'the trigger: YAML or JSON (- for standard input)')
      .action((o: CommonOptions & { file: string }) =>
        runAction(async () => {
          const { trigger } = await clientFor(o).createTrigger((await readDefinition(o.file)) as never);
          if (o.json) return printJson({ trigger });
          printLine(`trigger ${trigger.name} created: files complete in ${trigger.spec.directory} (${trigger.spec.complete.mode}) start runs of pipeline ${trigger.spec.pipeline}`);
        }),
      );

    commonOptions(cmd.command('ls').description('list triggers')).action((o: CommonOptions) =>
      runAction(async () => {
        const { triggers } = await clientFor(o).listTriggers();
        if (o.json) return printJson({ triggers });
        printLine(table(['TRIGGER', 'PIPELINE', 'DIRECTORY', 'COMPLETE', 'STATE', 'CREATED'], triggers.map((t) => [t.name, t.spec.pipeline, t.spec.directory, t.spec.complete.mode, t.paused ? 'paused' : 'watching', `${ago(t.createdAt)} ago`])));
      }),
    );

    commonOptions(cmd.command('delete').description('delete a trigger (operator; audited)'))
      .argument('<name>', 'trigger name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).deleteTrigger(name);
          if (o.json) return printJson(res);
          printLine(`trigger ${name} deleted`);
        }),
      );

    commonOptions(cmd.command('retry').description('run a failed file again: back from failed/ into the directory (operator; audited)'))
      .argument('<name>', 'trigger name')
      .argument('<file>', 'the file\'s name in failed/')
      .action((name: string, file: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).retryTriggerFile(name, file);
          if (o.json) return printJson(res);
          printLine(`${res.file} waits to be claimed again`);
        }),
      );

    registerPauseCommands(cmd, 'trigger', { pause: 'claim no new file (durable, audited)', resume: 'claim files again' }, (client, names, paused) => client.setTriggersPaused(names, paused));
  },
};
