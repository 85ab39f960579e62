import type { Command } from 'commander';
import type { MaintenanceMode } from '../../core/types.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { printJson, printLine } from '../output.js';

function maintenanceCommand(name: string, mode: MaintenanceMode, summary: string, example: string, said: (running: number) => string): CommandDef {
  return {
    name,
    summary,
    example,
    register(cmd: Command) {
      commonOptions(cmd).action((o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).setMaintenance(mode);
          if (o.json) printJson(res);
          else printLine(said(res.running));
        }),
      );
    },
  };
}

export const drainCommand = maintenanceCommand(
  'drain',
  'drain',
  'Maintenance mode: refuse new jobs (503), start nothing new, let running jobs finish. Survives restarts',
  'gpuq drain && gpuq wait $(gpuq ls --state running --json | jq -r ".jobs[].id")',
  (running) => `draining: new jobs are refused; ${running} attempt(s) still running will finish. \`gpuq resume\` to accept jobs again.`,
);

export const resumeCommand = maintenanceCommand('resume', 'normal', 'Leave maintenance mode: accept jobs and start queued ones', 'gpuq resume', () => 'resumed: accepting and starting jobs');
