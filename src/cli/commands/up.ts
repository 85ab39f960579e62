import type { Command } from 'commander';
import { loadServerConfig, type ServerOptions } from '../../config.js';
import type { CommandDef } from '../command.js';
import { runAction } from '../command.js';
import { printLine, warn } from '../output.js';

const num = (v: string) => Number(v);

export const upCommand: CommandDef = {
  name: 'up',
  summary: 'Start gpuq on this machine: API, scheduler and a local agent on the embedded store',
  example:
    'gpuq up --fake-gpus 4          # no GPU here: 4 simulated GPUs\ngpuq up --database-url postgres://gpuq@db:5432/gpuq --host 0.0.0.0 --no-agent   # a cluster replica; jobs run on `gpuq agent` hosts\ngpuq up --host 0.0.0.0          # reachable from the network: API tokens required\ngpuq up --data-dir /var/lib/gpuq --durability strict\ngpuq up --database-url postgres://gpuq@db:5432/gpuq   # the store on PostgreSQL',
  register(cmd: Command) {
    cmd
      .option('--data-dir <dir>', 'where the database, logs and artifacts live (default ./.gpuq or $GPUQ_DATA_DIR)')
      .option('--host <host>', 'address to listen on (default 127.0.0.1)')
      .option('--auth <mode>', '"required": every API call needs a token (gpuq token create); "off": no tokens, loopback hosts only (default: off on loopback, required otherwise; or $GPUQ_AUTH)')
      .option('--port <port>', 'port to listen on, 0 for any free one (default 7420)', num)
      .option('--fake-gpus <n>', 'simulate N GPUs instead of discovering real ones (machines without GPUs)', num)
      .option('--database-url <url>', 'keep the store in PostgreSQL (postgres://user:password@host:5432/db) instead of SQLite in the data dir (or $GPUQ_DATABASE_URL)')
      .option('--durability <level>', '"normal": survives a crash of gpuq; "strict": also survives power loss (slower)')
      .option('--retention-days <days>', 'keep finished jobs, ended pipeline runs (and their directories) and triggers\' done/ files this long (default 7)', num)
      .option('--audit-retention-days <days>', 'keep audit log entries this long (default 365)', num)
      .option('--event-retention-hours <hours>', 'keep events of the event feed this long; older Last-Event-IDs get a resync (default 24)', num)
      .option('--lease-seconds <s>', 'reclaim a running attempt whose lease is not renewed for this long (default 30)', num)
      .option('--leader-lease-seconds <s>', 'cluster mode: a leader that stops renewing is replaced after about this long (default 6)', num)
      .option('--kill-grace-seconds <s>', 'SIGTERM → SIGKILL grace on cancel and timeout (default 10)', num)
      .option('--telemetry-seconds <s>', 'how often the local agent samples its GPUs (default 5)', num)
      .option('--idle-utilization-pct <pct>', 'GPUs under this utilization count as idle (default 5)', num)
      .option('--idle-minutes <min>', 'flag a running job idle once all its GPUs stayed idle this long (default 10)', num)
      .option('--idle-cancel', 'cancel jobs flagged idle, saying why (default: only flag them)')
      .option('--pool-gpu-limit <n>', 'most GPUs all warm worker pools\' replicas hold together (default: no cap)', num)
      .option('--pipelines-dir <dir>', 'where pipeline runs keep their files; in a cluster, a directory shared by every server and node (default <data dir>/pipelines)')
      .option('--memory-pressure-pct <pct>', 'evict pool replicas from a node whose available host memory is under this percent of its total, lowest eviction priority and largest pool first; 0: never (default 5)', num)
      .option('--intake-config <file>', 'broker intake sources and result sinks (Redis Streams, NATS JetStream): a YAML or JSON file, see docs/operations.md "Broker intake"')
      .option('--slo-success-pct <pct>', 'SLO report objective: job success rate at least this (default 98)', num)
      .option('--slo-queue-wait-p95-seconds <s>', 'SLO report objective: queue wait p95 at most this (default 300)', num)
      .option('--slo-gpu-utilization-min-pct <pct>', 'SLO report objective: GPU utilization over all GPU time at least this (default 70)', num)
      .option('--slo-gpu-utilization-max-pct <pct>', 'SLO report objective: GPU utilization over all GPU time at most this (default 90)', num)
      .option('--node-name <name>', 'this node\'s name (default: the hostname)')
      .option('--max-running <n>', 'most exec jobs run at once on this node; the rest wait queued (default max(32, 8 × CPU cores) + GPUs)', num)
      .option('--no-agent', 'run no local agent: a control-plane server only, for cluster replicas whose jobs run on `gpuq agent` hosts')
      .option('--log-level <level>', 'server log level on stderr (default info)')
      .option('--json', 'print {"url": ...} when ready')
      .action((o: Record<string, unknown>) =>
        runAction(async () => {
          const { json, ...rest } = o;
          const config = loadServerConfig(rest as ServerOptions);
          // Imported when the command runs: the server's modules (fastify, the stores) would slow every other command's start.
          const { startEmbedded } = await import('../../embedded.js');
          const gpuq = await startEmbedded(config);
          // One line, so a supervisor or a script can read it as soon as it appears.
          if (json) printLine(JSON.stringify({ url: gpuq.url, dataDir: config.dataDir, pid: process.pid, auth: config.auth }));
          else printLine(`gpuq is up at ${gpuq.url}  (data: ${config.dataDir}${config.fakeGpus ? `, ${config.fakeGpus} SIMULATED GPUs` : ''}, auth ${config.auth}; dashboard: ${gpuq.url}/)`);
          await new Promise<void>((resolve) => {
            const stop = (sig: string) => {
              warn(`gpuq: ${sig} received, stopping (running jobs are stopped and will be retried)`);
              void gpuq.close().then(resolve);
            };
            process.once('SIGINT', () => stop('SIGINT'));
            process.once('SIGTERM', () => stop('SIGTERM'));
          });
        }),
      );
  },
};
