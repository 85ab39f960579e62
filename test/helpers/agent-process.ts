import { spawn, type ChildProcess } from 'node:child_process';
import { CLI, tempDir } from './gpuq-process.js';

export interface AgentProcess {
  node: string;
  logUrl: string;
  pid: number;
  dataDir: string;
  child: ChildProcess;
  stderr: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** kill -9, as a crash. */
  crash(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Starts a real `gpuq agent` process and waits until it has registered (it prints its --json line then). */
export async function startAgent(opts: { server: string | string[]; token: string; node: string; fakeGpus?: number; args?: string[] }): Promise<AgentProcess> {
  const dataDir = tempDir('gpuq-agent-');
  const servers = [opts.server].flat().join(',');
  const args = [CLI, 'agent', '--json', '--server', servers, '--node-name', opts.node, '--data-dir', dataDir, '--fake-gpus', String(opts.fakeGpus ?? 2), '--kill-grace-seconds', '1', '--log-level', 'info', ...(opts.args ?? [])];
  // The token travels in the environment, as an operator would pass it (never in the process list).
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GPUQ_TOKEN: opts.token } });
  running.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const ready = await new Promise<{ node: string; logUrl: string; pid: number }>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) {
        child.stdout!.off('data', onData);
        resolve(JSON.parse(line) as { node: string; logUrl: string; pid: number });
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gpuq agent exited with ${code} before it registered:\n${err}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => running.delete(child));
  return {
    ...ready,
    dataDir,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // A paused agent cannot act on SIGTERM.
        child.kill('SIGCONT');
        child.kill('SIGTERM');
      }
      await exited;
    },
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Agents a test file started and did not stop: fails the test that leaked one. */
export function leakedAgents(): number {
  return running.size;
}
