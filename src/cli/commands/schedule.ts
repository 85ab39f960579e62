import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { ago, printJson, printLine, table } from '../output.js';
import { registerPauseCommands } from '../pipelines/pause-commands.js';
import { describeSchedule } from '../pipelines/schedule-show.js';
import { readDefinition } from './pipeline.js';

export const scheduleCommand: CommandDef = {
  name: 'schedule',
  summary: 'Cron schedules (UTC) of pipelines and job templates: each time fires once. create, ls, show, delete, pause, resume',
  example: [
    'gpuq schedule create -f nightly.yaml     # {name, cron: "0 3 * * *", target: {pipeline: NAME} | {job: {...}}, missed: once|skip|all}',
    'gpuq schedule ls',
    'gpuq schedule show nightly               # cron, target, missed policy, state, last fire; the latest fires with their runs or jobs',
    'gpuq schedule pause --all                # nothing fires (durable, audited); resume --all fires from then on',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('create').description('define a schedule (operator; audited)'))
      .requiredOption('-f, --file <file>', 'the schedule: YAML or JSON (- for standard input)')
      .action((o: CommonOptions & { file: string }) =>
        runAction(async () => {
          const { schedule } = await clientFor(o).createSchedule((await readDefinition(o.file)) as never);
          if (o.json) return printJson({ schedule });
          printLine(`schedule ${schedule.name} created: "${schedule.spec.cron}" (UTC) ${targetOf(schedule.spec.target)}, missed times: ${schedule.spec.missed}`);
        }),
      );

    commonOptions(cmd.command('ls').description('list schedules')).action((o: CommonOptions) =>
      runAction(async () => {
        const { schedules } = await clientFor(o).listSchedules();
        if (o.json) return printJson({ schedules });
        printLine(
          table(
            ['SCHEDULE', 'CRON (UTC)', 'TARGET', 'MISSED', 'STATE', 'LAST FIRE', 'CREATED'],
            schedules.map((s) => [s.name, s.spec.cron, targetOf(s.spec.target), s.spec.missed, s.paused ? 'paused' : 'active', s.lastFireAt === null ? '-' : new Date(s.lastFireAt).toISOString(), `${ago(s.createdAt)} ago`]),
          ),
        );
      }),
    );

    commonOptions(cmd.command('show').description('a schedule\'s definition, state and last fire, and its latest fires with the run or job each started'))
      .argument('<name>', 'schedule name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).getSchedule(name);
          if (o.json) return printJson(res);
          for (const line of describeSchedule(res.schedule, res.fires, Date.now())) printLine(line);
        }),
      );

    commonOptions(cmd.command('delete').description('delete a schedule (operator; audited)'))
      .argument('<name>', 'schedule name')
      .action((name: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).deleteSchedule(name);
          if (o.json) return printJson(res);
          printLine(`schedule ${name} deleted`);
        }),
      );

    registerPauseCommands(cmd, 'schedule', { pause: 'fire nothing until resumed (durable, audited)', resume: 'fire again, from now on' }, (client, names, paused) => client.setSchedulesPaused(names, paused));
  },
};

function targetOf(t: { pipeline: string } | { job: { name?: string | null; queue?: string } }): string {
  return 'pipeline' in t ? `pipeline ${t.pipeline}` : `job${t.job.name ? ` ${t.job.name}` : ''}`;
}
