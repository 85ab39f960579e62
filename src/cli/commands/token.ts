import type { Command } from 'commander';
import { ROLES, type ApiToken } from '../../core/access.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { ago, printJson, printLine, table, UsageError, warn } from '../output.js';

type CreateOptions = CommonOptions & { role?: string; name?: string; dataDir?: string; databaseUrl?: string };

function tokenRows(tokens: ApiToken[]): (string | null)[][] {
  return tokens.map((t) => [t.id, t.name, t.role, `${ago(t.createdAt)} ago`, t.lastUsedAt === null ? 'never' : `${ago(t.lastUsedAt)} ago`, t.revokedAt === null ? '-' : `${ago(t.revokedAt)} ago`]);
}

export const tokenCommand: CommandDef = {
  name: 'token',
  summary: `API tokens with roles (${ROLES.join(', ')}): create, ls, revoke. Admin only`,
  example: [
    'gpuq token create --role admin --name root --data-dir /var/lib/gpuq   # the first admin token, on the server\'s machine, no server needed',
    'export GPUQ_TOKEN=$(gpuq token create --role submitter --name ci)',
    'gpuq token ls --all',
    'gpuq token revoke tok_0123456789abcdef',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('create').description('create a token; prints it (only this once: it is stored hashed) on stdout'))
      .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
      .requiredOption('--name <name>', 'a name unique among live tokens (shown as the owner of its jobs and in the audit log)')
      .option('--data-dir <dir>', 'create it directly in the SQLite store of this data directory, without a server (bootstrap)')
      .option('--database-url <url>', 'create it directly in this PostgreSQL store, without a server (bootstrap)')
      .action((o: CreateOptions) =>
        runAction(async () => {
          if (o.dataDir !== undefined && o.databaseUrl !== undefined) throw new UsageError('give --data-dir or --database-url, not both');
          if ((o.dataDir !== undefined || o.databaseUrl !== undefined) && o.url !== undefined) throw new UsageError('--url talks to a server; --data-dir and --database-url write to the store directly: give one');
          let t: { token: string; id: string; name: string; role: string; createdAt: number };
          if (o.dataDir !== undefined || o.databaseUrl !== undefined) {
            // Imported when the command runs: the server's modules (fastify, the stores) would slow every other command's start.
            const { createTokenInStore } = await import('../../token-bootstrap.js');
            const made = await createTokenInStore({ dataDir: o.dataDir, databaseUrl: o.databaseUrl }, { name: o.name, role: o.role });
            if (made.newDatabase) warn(`note: there was no gpuq database in ${o.dataDir}; a new one was made there. The server must run with --data-dir ${o.dataDir} to accept this token.`);
            t = made.issued;
          } else {
            t = await clientFor(o).createToken(o.name!, o.role as ApiToken['role']);
          }
          if (o.json) return printJson({ token: t.token, id: t.id, name: t.name, role: t.role, createdAt: t.createdAt });
          printLine(t.token);
          warn(`created token ${t.id} "${t.name}" (role ${t.role}); it is shown only this once: keep it secret, pass it with GPUQ_TOKEN or --token`);
        }),
      );
    commonOptions(cmd.command('ls').description('list live tokens (never their secrets)'))
      .option('--all', 'include revoked tokens')
      .action((o: CommonOptions & { all?: boolean }) =>
        runAction(async () => {
          const res = await clientFor(o).listTokens({ all: o.all });
          if (o.json) return printJson(res);
          printLine(table(['ID', 'NAME', 'ROLE', 'CREATED', 'LAST USED', 'REVOKED'], tokenRows(res.tokens)));
        }),
      );
    commonOptions(cmd.command('revoke').description('revoke a token: refused from now on, everywhere'))
      .argument('<id>', 'token id (tok_…, see `gpuq token ls`)')
      .action((id: string, o: CommonOptions) =>
        runAction(async () => {
          const res = await clientFor(o).revokeToken(id);
          if (o.json) return printJson(res);
          printLine(`revoked ${res.token.id} "${res.token.name}"`);
        }),
      );
  },
};
