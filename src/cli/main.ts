#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import type { CommandDef } from './command.js';
import { agentCommand } from './commands/agent.js';
import { artifactsCommand } from './commands/artifacts.js';
import { auditCommand } from './commands/audit.js';
import { cancelCommand } from './commands/cancel.js';
import { dlqCommand } from './commands/dlq.js';
import { eventsCommand } from './commands/events.js';
import { logsCommand } from './commands/logs.js';
import { lsCommand } from './commands/ls.js';
import { demoCommand } from './commands/demo.js';
import { drainCommand, resumeCommand } from './commands/maintenance.js';
import { nodeCommand } from './commands/node.js';
import { intakeCommand } from './commands/intake.js';
import { nodesCommand } from './commands/nodes.js';
import { pipelineCommand } from './commands/pipeline.js';
import { scheduleCommand } from './commands/schedule.js';
import { triggerCommand } from './commands/trigger.js';
import { poolCommand } from './commands/pool.js';
import { probeCommand } from './commands/probe.js';
import { reportCommand } from './commands/report.js';
import { resultCommand } from './commands/result.js';
import { riskCommand } from './commands/risk.js';
import { showCommand } from './commands/show.js';
import { submitCommand } from './commands/submit.js';
import { tokenCommand } from './commands/token.js';
import { upCommand } from './commands/up.js';
import { waitCommand } from './commands/wait.js';
import { EXIT } from './exit-codes.js';

/** Every command, in the order `gpuq --help` lists them. */
export const COMMANDS: CommandDef[] = [upCommand, submitCommand, lsCommand, showCommand, logsCommand, resultCommand, artifactsCommand, cancelCommand, waitCommand, eventsCommand, nodesCommand, nodeCommand, dlqCommand, poolCommand, pipelineCommand, triggerCommand, scheduleCommand, intakeCommand, drainCommand, resumeCommand, probeCommand, tokenCommand, auditCommand, reportCommand, agentCommand, riskCommand, demoCommand];

const program = new Command('gpuq')
  .description('gpuq: a GPU job orchestrator. Queue GPU work; each job gets its own GPUs, failures retry into a dead-letter queue, nothing is lost.')
  .version(VERSION)
  .exitOverride()
  .addHelpText('after', '\nExit codes: 0 ok, 1 failed, 2 bad input, 3 server unreachable, 4 not found, 5 draining/unavailable, 6 deadline passed, 7 token refused (401/403).\nServer URL: --url, or $GPUQ_URL (default http://127.0.0.1:7420). API token: $GPUQ_TOKEN (or --token, which other users can see in the process list).');

for (const def of COMMANDS) {
  const cmd = program.command(def.name).description(def.summary).exitOverride();
  cmd.addHelpText('after', `\nExamples:\n${def.example.split('\n').map((l) => `  ${l}`).join('\n')}`);
  def.register(cmd);
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? EXIT.OK : EXIT.USAGE;
  } else {
    throw e;
  }
}
