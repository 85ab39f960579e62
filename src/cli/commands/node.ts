import type { Command } from 'commander';
import type { GpuqClient, NodeState } from '../../sdk/client.js';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson, printLine, UsageError } from '../output.js';

const POLL_MS = 200;

/** "gpu-1: cordoned (2 attempts live)", "gpu-1: draining, drained". */
export function describeNode(n: NodeState): string {
  const live = `${n.liveAttempts} attempt${n.liveAttempts === 1 ? '' : 's'} live`;
  if (n.adminState === 'draining') return `${n.id}: draining, ${n.drained ? 'drained (no attempt live)' : `not drained yet (${live})`}`;
  return `${n.id}: ${n.adminState} (${live})`;
}

/** Polls the node until it reports drained or the deadline passes. Calls `progress` after each read. */
async function waitDrained(client: GpuqClient, nodeId: string, first: NodeState, deadline: number, progress?: (n: NodeState) => void): Promise<{ node: NodeState; timedOut: boolean }> {
  let node = first;
  for (;;) {
    progress?.(node);
    if (node.drained === true) return { node, timedOut: false };
    // Someone uncordoned (or cordoned) it meanwhile: it will not report drained.
    if (node.adminState !== 'draining') throw new Error(`node ${nodeId} is no longer draining (now ${node.adminState}): stopped waiting`);
    if (Date.now() >= deadline) return { node, timedOut: true };
    await new Promise((r) => setTimeout(r, POLL_MS));
    node = (await client.node(nodeId)).node;
  }
}

type DrainOptions = CommonOptions & { wait?: boolean; timeout?: number };

export const nodeCommand: CommandDef = {
  name: 'node',
  summary: 'Node lifecycle: cordon (no new work), drain (cordon, let running work finish, report drained), uncordon. Operator',
  example: [
    'gpuq node cordon gpu-7            # no new jobs on gpu-7; running ones go on',
    'gpuq node drain gpu-7 --wait --timeout 3600 && sudo reboot   # exits 0 once gpu-7 runs nothing',
    'gpuq node uncordon gpu-7          # back in service',
  ].join('\n'),
  register(cmd: Command) {
    commonOptions(cmd.command('cordon').description('no new attempts go to the node; running ones go on (survives agent restarts)'))
      .argument('<node>', 'node id (see `gpuq nodes`)')
      .action((nodeId: string, o: CommonOptions) =>
        runAction(async () => {
          const { node } = await clientFor(o).cordonNode(nodeId);
          if (o.json) return printJson({ node });
          printLine(describeNode(node));
        }),
      );
    commonOptions(cmd.command('drain').description('cordon the node and let its running attempts finish; with --wait, exit 0 once it is drained'))
      .argument('<node>', 'node id (see `gpuq nodes`)')
      .option('--wait', 'wait until the node reports drained (no attempt live); progress on a terminal')
      .option('-t, --timeout <seconds>', 'with --wait: give up after this long (exit 6; the node stays draining)', (v) => Number(v))
      .action((nodeId: string, o: DrainOptions) =>
        runAction(async () => {
          if (o.timeout !== undefined && !(o.timeout >= 0)) throw new UsageError('--timeout must be a number of seconds, 0 or more');
          if (o.timeout !== undefined && !o.wait) throw new UsageError('--timeout applies to --wait: give both, or neither');
          const client = clientFor(o);
          const { node } = await client.drainNode(nodeId);
          if (!o.wait) {
            if (o.json) return printJson({ node });
            return printLine(describeNode(node));
          }
          const tty = process.stderr.isTTY && !o.json;
          const deadline = o.timeout === undefined ? Infinity : Date.now() + o.timeout * 1000;
          const done = await waitDrained(client, nodeId, node, deadline, tty ? (n) => process.stderr.write(`\r\x1b[K${describeNode(n)}`) : undefined);
          if (tty) process.stderr.write('\n');
          if (o.json) printJson(done);
          else printLine(done.timedOut ? `${describeNode(done.node)}; timed out waiting` : describeNode(done.node));
          return done.timedOut ? EXIT.TIMEOUT : EXIT.OK;
        }),
      );
    commonOptions(cmd.command('uncordon').description('the node takes new attempts again (ends a cordon or a drain)'))
      .argument('<node>', 'node id (see `gpuq nodes`)')
      .action((nodeId: string, o: CommonOptions) =>
        runAction(async () => {
          const { node } = await clientFor(o).uncordonNode(nodeId);
          if (o.json) return printJson({ node });
          printLine(describeNode(node));
        }),
      );
  },
};
