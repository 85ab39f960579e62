import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { parseIds, printJson, printLine, table, warn } from '../output.js';

export const artifactsCommand: CommandDef = {
  name: 'artifacts',
  summary: 'List the files a job left in $GPUQ_ARTIFACTS_DIR, or download one (to stdout, or -o FILE)',
  example: 'gpuq artifacts 42\ngpuq artifacts 42 plots/loss.png -o loss.png\ngpuq artifacts 42 result.json --attempt 1',
  register(cmd: Command) {
    commonOptions(cmd)
      .argument('<id>', 'job ID')
      .argument('[name]', 'an artifact to download (its path in the artifacts directory, as listed)')
      .option('-o, --output <file>', 'write the artifact to this file instead of stdout')
      .option('--attempt <n>', 'a given attempt (default: the latest that reported one)', (v) => Number(v))
      .action((id: string, name: string | undefined, o: CommonOptions & { output?: string; attempt?: number }) =>
        runAction(async () => {
          const [jobId] = parseIds([id]);
          const client = clientFor(o);
          if (name === undefined) {
            const r = await client.artifacts(jobId!, { attempt: o.attempt });
            if (o.json) return printJson(r);
            if (r.artifacts.length > 0) printLine(table(['NAME', 'BYTES'], r.artifacts.map((a) => [a.name, a.bytes])));
            warn(`job ${r.jobId} attempt ${r.attempt} (${r.state} on ${r.nodeId}): ${r.artifacts.length} artifact(s)`);
            if (r.note) warn(`note: ${r.note}`);
            return;
          }
          const res = await client.artifact(jobId!, name, { attempt: o.attempt });
          const body = res.body ? Readable.fromWeb(res.body as ReadableStream<Uint8Array>) : Readable.from([]);
          if (o.output !== undefined && o.output !== '-') {
            await pipeline(body, createWriteStream(o.output));
            warn(`wrote ${o.output} (${res.headers.get('content-length') ?? '?'} bytes, job ${jobId} attempt ${res.headers.get('x-gpuq-attempt') ?? '?'})`);
          } else {
            await pipeline(body, process.stdout, { end: false });
          }
        }),
      );
  },
};
