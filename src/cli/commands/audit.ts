import type { Command } from 'commander';
import { AUDIT_ACTIONS, type AuditAction } from '../../core/access.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { printJson, printLine, table, UsageError } from '../output.js';

export const auditCommand: CommandDef = {
  name: 'audit',
  summary: 'The audit log of operator actions (drain, cancels of others\' jobs and queues, DLQ replay and purge, tokens): who, when, what, outcome',
  example: 'gpuq audit\ngpuq audit --action control.maintenance --limit 20',
  register(cmd: Command) {
    commonOptions(cmd)
      .option('-a, --action <action>', `only this action: ${AUDIT_ACTIONS.join(', ')}`)
      .option('-n, --limit <n>', 'at most this many, newest first (default 50)', (v) => Number(v), 50)
      .action((o: CommonOptions & { action?: string; limit: number }) =>
        runAction(async () => {
          if (o.action !== undefined && !(AUDIT_ACTIONS as readonly string[]).includes(o.action)) throw new UsageError(`--action: "${o.action}" is not one of ${AUDIT_ACTIONS.join(', ')}`);
          const res = await clientFor(o).audit({ action: o.action as AuditAction | undefined, limit: o.limit });
          if (o.json) return printJson(res);
          printLine(
            table(
              ['AT', 'ACTOR', 'ROLE', 'ACTION', 'TARGET', 'OUTCOME', 'DETAIL'],
              res.entries.map((e) => [new Date(e.at).toISOString().replace(/\.\d+Z$/, 'Z'), e.actorTokenId ? `${e.actor} (${e.actorTokenId})` : e.actor, e.role, e.action, e.target, e.outcome, e.detail]),
            ),
          );
          if (res.nextCursor) printLine(`… more: raise --limit, or use the API's cursor ${res.nextCursor}`);
        }),
      );
  },
};
