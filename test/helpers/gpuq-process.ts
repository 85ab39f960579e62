import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';
import { GpuqClient } from '../../src/sdk/client.js';

/** The built CLI (npm test builds before running vitest). */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js');

const created: string[] = [];

/** A fresh temporary directory, removed when the test file is done. */
export function tempDir(prefix = 'gpuq-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  created.push(dir);
  return dir;
}

// Registered when a test file first imports this module, so it runs after that file's own afterAll hooks.
afterAll(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

export interface GpuqProcess {
  url: string;
  dataDir: string;
  client: GpuqClient;
  child: ChildProcess;
  stderr: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** kill -9, as a crash. */
  crash(): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Starts a real `gpuq up` process on a free port and waits until it prints its URL. */
export async function startGpuq(opts: { dataDir?: string; fakeGpus?: number; args?: string[] } = {}): Promise<GpuqProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const args = [CLI, 'up', '--json', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', '--kill-grace-seconds', '2'];
  if (opts.fakeGpus !== undefined) args.push('--fake-gpus', String(opts.fakeGpus));
  args.push(...(opts.args ?? []));
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) {
        child.stdout!.off('data', onData);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`gpuq up exited with ${code} before it was ready:\n${err}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => running.delete(child));
  return {
    url,
    dataDir,
    child,
    client: new GpuqClient(url),
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async crash() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Servers a test file started and did not stop: fails the test that leaked one. */
export function leakedServers(): number {
  return running.size;
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function until<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs the CLI as a real process (in `cwd`, default this one's); resolves with its exit code and output. */
export function runCli(args: string[], env: Record<string, string> = {}, input?: string, cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input ?? '');
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Creates an API token straight in a PostgreSQL store with the CLI (`gpuq token create --database-url`), as an operator bootstraps one; returns it. */
export async function createToken(databaseUrl: string, role: string, name: string): Promise<string> {
  const r = await runCli(['token', 'create', '--database-url', databaseUrl, '--role', role, '--name', name]);
  if (r.code !== 0) throw new Error(`gpuq token create exited with ${r.code}: ${r.stderr}`);
  return r.stdout.trim();
}
