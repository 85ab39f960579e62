import type { Command } from 'commander';
import { loadAgentConfig, type AgentOptions } from '../../config.js';
import { GpuqApiError } from '../../sdk/client.js';
import { runAction, type CommandDef } from '../command.js';
import { keyValues, printLine, warn } from '../output.js';

const num = (v: string) => Number(v);
const collect = (v: string, prev: string[] = []) => [...prev, v];

interface AgentCommandOptions {
  server?: string[];
  token?: string;
  nodeName?: string;
  label?: string[];
  fakeGpus?: number;
  dataDir?: string;
  maxRunning?: number;
  listen?: string;
  advertiseHost?: string;
  graceSeconds?: number;
  heartbeatSeconds?: number;
  telemetrySeconds?: number;
  killGraceSeconds?: number;
  logLevel?: string;
  json?: boolean;
}

export const agentCommand: CommandDef = {
  name: 'agent',
  summary: 'Run this machine\'s GPUs as a node of a cluster: registers with the control plane, runs the jobs it assigns, serves their logs',
  example: [
    'export GPUQ_TOKEN=...   # gpuq token create --role agent --name gpu-01',
    'gpuq agent --server http://gpuq.example:7420 --listen 0.0.0.0:7421',
    'gpuq agent --server http://cp-1:7420,http://cp-2:7420 --label zone=eu --grace-seconds 120',
    'gpuq agent --server http://127.0.0.1:7420 --fake-gpus 2 --node-name sim-1   # no GPU here',
  ].join('\n'),
  register(cmd: Command) {
    cmd
      .option('--server <url>', 'the control plane (a server\'s URL; repeat it, or separate with commas, for the replicas of a cluster; or $GPUQ_SERVER)', collect)
      .option('--token <token>', 'API token with the agent role (default: $GPUQ_TOKEN, which other users cannot see in the process list)')
      .option('--node-name <name>', 'this node\'s name, unique in the cluster (default: the hostname)')
      .option('--label <key=value>', 'a node label jobs can select with nodeSelector (repeatable)', collect)
      .option('--fake-gpus <n>', 'simulate N GPUs instead of discovering real ones (machines without GPUs)', num)
      .option('--data-dir <dir>', 'where job logs and artifacts live (default ./.gpuq-agent)')
      .option('--max-running <n>', 'most exec jobs run at once on this node (default max(32, 8 × CPU cores) + GPUs)', num)
      .option('--listen <host:port>', 'where the log server listens; the servers read this node\'s job logs there (default 127.0.0.1:0; in a cluster e.g. 0.0.0.0:7421)')
      .option('--advertise-host <host>', 'the host name the servers reach the log server by (default: the listen host, or the hostname when listening on 0.0.0.0)')
      .option('--grace-seconds <s>', 'keep jobs running this long while the control plane is unreachable, then kill them (default 60)', num)
      .option('--heartbeat-seconds <s>', 'how often leases are renewed; well under the server\'s --lease-seconds (default 2)', num)
      .option('--telemetry-seconds <s>', 'how often the GPUs are sampled (default 5); the idle policy is the control plane\'s (gpuq up --idle-*)', num)
      .option('--kill-grace-seconds <s>', 'SIGTERM → SIGKILL grace on cancel and timeout (default 10)', num)
      .option('--log-level <level>', 'agent log level on stderr (default info)')
      .option('--json', 'print {"node", "logUrl", "pid"} when registered')
      .action((o: AgentCommandOptions) =>
        runAction(async () => {
          const { json, server, label, ...rest } = o;
          const config = loadAgentConfig({ ...rest, servers: server, labels: label === undefined ? undefined : keyValues('--label', label) } as AgentOptions);
          // Imported when the command runs: the server's modules (fastify, the stores) would slow every other command's start.
          const [{ startRemoteAgent }, { ControlPlaneRefusedError }] = await Promise.all([import('../../agent/remote-agent.js'), import('../../agent/http-control-plane-link.js')]);
          const agent = await startRemoteAgent(config).catch((err: unknown) => {
            // A refused registration (a bad token: exit 7) exits like any refused API call.
            throw err instanceof ControlPlaneRefusedError ? new GpuqApiError(err.status, err.code, err.message) : err;
          });
          // One line, so a supervisor or a script can read it as soon as it appears.
          if (json) printLine(JSON.stringify({ node: agent.nodeId, logUrl: agent.logUrl, pid: process.pid }));
          else printLine(`gpuq agent ${agent.nodeId} is registered with ${config.servers.join(', ')}  (logs served at ${agent.logUrl}${config.fakeGpus ? `, ${config.fakeGpus} SIMULATED GPUs` : ''})`);
          await new Promise<void>((resolve) => {
            const stop = (sig: string) => {
              warn(`gpuq agent: ${sig} received, stopping (running jobs are stopped and will be retried)`);
              void agent.stop().then(resolve);
            };
            process.once('SIGINT', () => stop('SIGINT'));
            process.once('SIGTERM', () => stop('SIGTERM'));
          });
        }),
      );
  },
};
