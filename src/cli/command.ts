import type { Command } from 'commander';
import { ValidationError } from '../core/errors.js';
import { GpuqApiError, GpuqClient, GpuqUnreachableError } from '../sdk/client.js';
import { clientToken, serverUrl } from '../config.js';
import { EXIT } from './exit-codes.js';
import { UsageError, warn } from './output.js';

/** One CLI command: declared as data (name, summary, example), wired by `register`. */
export interface CommandDef {
  name: string;
  summary: string;
  example: string;
  register(cmd: Command): void;
}

export interface CommonOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

export function clientFor(opts: CommonOptions): GpuqClient {
  return new GpuqClient(serverUrl(opts.url).replace(/\/$/, ''), { token: clientToken(opts.token) });
}

/** Runs a command body, mapping failures to messages on stderr and the documented exit codes. */
export async function runAction(body: () => Promise<number | void>): Promise<void> {
  let code: number;
  try {
    code = (await body()) ?? EXIT.OK;
  } catch (e) {
    code = exitCodeFor(e);
    warn(`gpuq: ${messageFor(e)}`);
  }
  process.exitCode = code;
}

function exitCodeFor(e: unknown): number {
  // A ValidationError here was thrown in this process (gpuq up's options, gpuq token create --data-dir): bad input too.
  if (e instanceof UsageError || e instanceof ValidationError) return EXIT.USAGE;
  if (e instanceof GpuqUnreachableError) return EXIT.UNREACHABLE;
  if (e instanceof GpuqApiError) {
    if (e.status === 404) return EXIT.NOT_FOUND;
    if (e.status === 401 || e.status === 403) return EXIT.AUTH;
    if (e.status === 503) return EXIT.UNAVAILABLE;
    if (e.status >= 400 && e.status < 500) return EXIT.USAGE;
    return EXIT.FAILED;
  }
  return EXIT.FAILED;
}

function messageFor(e: unknown): string {
  if (e instanceof GpuqApiError) {
    const issues = e.issues.length > 1 ? `\n${e.issues.map((i) => `  - ${i.path || '(body)'}: ${i.message}`).join('\n')}` : '';
    return `${e.message} [${e.code}]${issues}`;
  }
  return e instanceof Error ? e.message : String(e);
}

export function commonOptions(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'gpuq server URL (default: $GPUQ_URL or http://127.0.0.1:7420)')
    .option('--token <token>', 'API token, when the server requires one (default: $GPUQ_TOKEN)')
    .option('--json', 'print results as JSON');
}
