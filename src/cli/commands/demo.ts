import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { isLoopbackHost, loadServerConfig, serverUrl } from '../../config.js';
import type { RunningGpuq } from '../../embedded.js';
import { validatePortfolio } from '../../risk/portfolio.js';
import { GpuqClient, GpuqUnreachableError } from '../../sdk/client.js';
import { runAction, type CommandDef } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printLine, UsageError, warn } from '../output.js';
import { runAndReport } from './risk.js';

/** The sample portfolio: one stock whose VaR and ES have a closed form, so the demo checks itself. */
const SAMPLE = fileURLToPath(new URL('../../../examples/risk/single-asset.json', import.meta.url));

type DemoFlags = { url?: string; token?: string; dataDir?: string; fakeGpus?: string; paths?: string; exit?: boolean };

export const demoCommand: CommandDef = {
  name: 'demo',
  summary: 'Start (or reuse) a local gpuq and run a sample Monte Carlo risk run sharded over its GPUs (CPU where none)',
  example: 'gpuq demo                      # starts gpuq here unless one answers at $GPUQ_URL, runs, keeps gpuq up\ngpuq demo --fake-gpus 4 --exit  # 4 simulated GPUs (CPU engines behind them); stop when done',
  register(cmd: Command) {
    cmd
      .option('--url <url>', 'use the gpuq at this URL (default: $GPUQ_URL or http://127.0.0.1:7420; started here when nothing answers)')
      .option('--token <token>', 'API token, for a server that requires one (default: $GPUQ_TOKEN)')
      .option('--data-dir <dir>', 'data directory of a gpuq started here (default ./.gpuq)')
      .option('--fake-gpus <n>', 'a gpuq started here simulates N GPUs (shards then run the CPU engine on them)')
      .option('--paths <n>', 'paths to simulate (default 10,000,000)')
      .option('--exit', 'stop a gpuq started here once the run is reported, instead of keeping it up')
      .action((f: DemoFlags) =>
        runAction(async () => {
          const url = serverUrl(f.url);
          let client = new GpuqClient(url, { token: f.token });
          let started: RunningGpuq | null = null;
          let dataDir: string | undefined;
          try {
            await client.health();
            warn(`gpuq demo: using the gpuq at ${url}`);
          } catch (e) {
            if (!(e instanceof GpuqUnreachableError)) throw e;
            const target = new URL(url);
            // Only a gpuq on this machine can be started here; a remote one that does not answer is an error.
            if (target.protocol !== 'http:' || !isLoopbackHost(target.hostname)) throw e;
            const port = Number(target.port || 80);
            const config = loadServerConfig({ port, dataDir: f.dataDir, fakeGpus: f.fakeGpus === undefined ? undefined : Number(f.fakeGpus), logLevel: 'warn' });
            // Imported when the command runs: the server's modules (fastify, the stores) would slow every other command's start.
            const { startEmbedded } = await import('../../embedded.js');
            started = await startEmbedded(config);
            dataDir = config.dataDir;
            client = new GpuqClient(started.url);
            warn(`gpuq demo: nothing answered at ${url}, so gpuq is now up there (data: ${config.dataDir}${config.fakeGpus ? `, ${config.fakeGpus} SIMULATED GPUs` : ''})`);
          }
          const sample = JSON.parse(readFileSync(SAMPLE, 'utf8')) as Record<string, unknown>;
          if (f.paths !== undefined) {
            if (!/^\d+$/.test(f.paths)) throw new UsageError(`--paths must be a positive integer, got "${f.paths}"`);
            sample.paths = Number(f.paths);
          }
          const portfolio = validatePortfolio(sample);
          const gpus = (await client.nodes()).nodes.reduce((n, node) => n + (node.state === 'up' ? node.devices.length : 0), 0);
          // Without GPUs, still show the sharding: four CPU shards.
          const { code, report, run } = await runAndReport(client, portfolio, { shards: gpus > 0 ? 'auto' : 4, engine: 'auto', runRoot: dataDir === undefined ? undefined : path.join(dataDir, 'risk') });
          if (report) {
            const u = client.baseUrl;
            printLine('');
            printLine(`The run was ${run.shardJobs.length} shard jobs (${run.shardJobs.join(', ')}) and reduce job ${run.reduceJob}. Look at them:`);
            printLine(`  gpuq ls --url ${u}        gpuq show ${run.reduceJob} --url ${u}        gpuq logs ${run.shardJobs[0]} --url ${u}`);
            printLine(`  gpuq result ${run.reduceJob} --url ${u}    or the API: curl ${u}/v1/jobs/${run.reduceJob}/result   (metrics: ${u}/metrics)`);
            printLine(`  or the web dashboard: ${u}/`);
          }
          if (started === null) return code;
          if (f.exit || code !== EXIT.OK) {
            await started.close();
            return code;
          }
          printLine(`gpuq keeps running at ${started.url}; Ctrl-C stops it.`);
          await new Promise<void>((resolve) => {
            const stop = () => void started!.close().then(resolve);
            process.once('SIGINT', stop);
            process.once('SIGTERM', stop);
          });
          return code;
        }),
      );
  },
};
