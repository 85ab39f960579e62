import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAP_CHECK_MS } from './attempt-log.js';
import { startAttempt, type ExecRequest } from './executor.js';
import { OrphanSweep, SWEEP_DELAY_MS } from './orphan-sweep.js';
import { attemptMarker, killAttemptProcesses } from './process-tree.js';

// Real child processes throughout. Attempts carry markers under this process's own agent key, so
// the scans of the executor never touch another's.
const firstId = 1;
let nextId = firstId;
/** The agent key of this test process's attempts: markers no other process on the machine uses. */
const AGENT_KEY = `exec-test-${process.pid}`;
const root = mkdtempSync(path.join(os.tmpdir(), 'gpuq-exec-'));
afterAll(async () => {
  // Should a test fail half-way, leave no sleeper behind.
  await killAttemptProcesses(Array.from({ length: nextId - firstId }, (_, i) => attemptMarker(AGENT_KEY, firstId + i)));
  rmSync(root, { recursive: true, force: true });
});

const BASE_ENV = Object.freeze({
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  KEEP_ME: 'kept',
  CUDA_VISIBLE_DEVICES: '0,1,2,3',
  NVIDIA_VISIBLE_DEVICES: 'all',
  CUDA_DEVICE_ORDER: 'FASTEST_FIRST',
  GPUQ_JOB_ID: '999',
  GPUQ_LEAK: 'from the agent',
});

function req(argv: string[], over: Partial<ExecRequest> = {}): ExecRequest {
  const attemptId = nextId++;
  const dir = path.join(root, String(attemptId));
  return {
    attemptId,
    jobId: 42,
    attemptNumber: 2,
    nodeId: 'box-1',
    agentKey: AGENT_KEY,
    argv,
    env: {},
    devices: [],
    logPath: path.join(dir, 'logs', 'attempt.log'),
    artifactsDir: path.join(dir, 'artifacts'),
    logCapBytes: 1 << 20,
    killGraceMs: 2000,
    now: Date.now,
    baseEnv: BASE_ENV,
    ...over,
  };
}

const sh = (script: string, over: Partial<ExecRequest> = {}) => req(['/bin/sh', '-c', script], over);
const logOf = (r: ExecRequest) => readFileSync(r.logPath, 'utf8');

/** Dead means no /proc entry, or a zombie (nobody reaps orphans in some containers; a zombie holds nothing). */
function isDead(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Polls until `read()` returns a value, or fails after `ms`. */
async function waitFor<T>(what: string, read: () => T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until `file` holds `n` lines of pids, written by the job's processes. */
const pidsIn = (file: string, n: number) =>
  waitFor(`${n} pids in ${file}`, () => {
    if (!existsSync(file)) return undefined;
    const pids = readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    return pids.length >= n ? pids : undefined;
  });

/**
 * A job whose tree has a leader (sh), a background child in its group, and a
 * grandchild that escaped into its own session with setsid. Each writes its pid.
 */
function treeScript(pidFile: string, extra = ''): string {
  return [
    extra,
    `echo $$ >> ${pidFile}`,
    `sleep 1000 & echo $! >> ${pidFile}`,
    // Its output goes elsewhere, so only the /proc marker scan can find it.
    `setsid /bin/sh -c 'echo $$ >> ${pidFile}; exec sleep 1000' >/dev/null 2>&1 &`,
    'wait',
  ].join('\n');
}

describe('startAttempt: environment', () => {
  it('passes exactly the inherited env minus reserved names, the job env, and gpuq variables pinning devices 1,3', async () => {
    const r = req([process.execPath, '-e', 'console.log(JSON.stringify(process.env))'], { devices: [1, 3], env: { FOO: 'bar', KEEP_ME: 'job wins' } });
    const res = await startAttempt(r).done;
    expect(res.state).toBe('succeeded');
    const env = JSON.parse(logOf(r)) as Record<string, string>;
    expect(env).toEqual({
      PATH: BASE_ENV.PATH,
      KEEP_ME: 'job wins',
      FOO: 'bar',
      CUDA_VISIBLE_DEVICES: '1,3',
      NVIDIA_VISIBLE_DEVICES: '1,3',
      CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
      GPUQ_JOB_ID: '42',
      GPUQ_ATTEMPT: '2',
      GPUQ_ATTEMPT_ID: String(r.attemptId),
      GPUQ_ATTEMPT_KEY: `${AGENT_KEY}/${r.attemptId}`,
      GPUQ_NODE: 'box-1',
      GPUQ_ARTIFACTS_DIR: r.artifactsDir,
      GPUQ_RESULT_FILE: path.join(r.artifactsDir, 'result.json'),
    });
  });

  it('shows a job without GPUs no GPU at all, and creates the artifacts dir before it runs', async () => {
    const r = sh('printf "cuda=[%s] nvidia=[%s]\\n" "$CUDA_VISIBLE_DEVICES" "$NVIDIA_VISIBLE_DEVICES"; test -d "$GPUQ_ARTIFACTS_DIR" && echo artifacts-dir-exists');
    expect((await startAttempt(r).done).state).toBe('succeeded');
    expect(logOf(r)).toBe('cuda=[] nvidia=[void]\nartifacts-dir-exists\n');
  });

  it('runs in the requested working directory', async () => {
    const r = sh('pwd', { cwd: root });
    await startAttempt(r).done;
    expect(logOf(r)).toBe(`${root}\n`);
  });
});

describe('startAttempt: how it ends', () => {
  it('exit 0 → succeeded, with start and end times and the pid announced', async () => {
    let t = 1000;
    const r = req(['/bin/true'], { now: () => (t += 10) });
    const a = startAttempt(r);
    const started = await a.started;
    expect(started.pid).toBeGreaterThan(1);
    expect(a.pid).toBe(started.pid);
    const res = await a.done;
    expect(res).toMatchObject({ state: 'succeeded', exitCode: 0, signal: null, startedAt: started.startedAt, logTruncated: false });
    expect(res.endedAt).toBeGreaterThan(started.startedAt);
  });

  it('non-zero exit → failed and retryable, naming the code', async () => {
    const res = await startAttempt(sh('exit 3')).done;
    expect(res).toMatchObject({ state: 'failed', exitCode: 3, signal: null, retryable: true, reason: 'exited with code 3' });
  });

  it('killed by a signal it was not sent by gpuq → failed and retryable, naming the signal', async () => {
    const res = await startAttempt(sh('kill -SEGV $$')).done;
    expect(res).toMatchObject({ state: 'failed', exitCode: null, signal: 'SIGSEGV', retryable: true, reason: 'killed by SIGSEGV' });
  });

  it('a program that does not exist → failed, not retryable, and `started` rejects', async () => {
    const a = startAttempt(req(['/nonexistent/gpuq-no-such-program', 'x']));
    await expect(a.started).rejects.toThrow(/cannot start/);
    const res = await a.done;
    expect(res).toMatchObject({ state: 'failed', retryable: false, startedAt: null, exitCode: null });
    expect(res.reason).toMatch(/^cannot start: spawn \/nonexistent\/gpuq-no-such-program ENOENT/);
    expect(a.pid).toBeNull();
  });

  it('a working directory that does not exist → failed, not retryable, with a hint', async () => {
    const res = await startAttempt(req(['/bin/true'], { cwd: path.join(root, 'no-such-dir') })).done;
    expect(res).toMatchObject({ state: 'failed', retryable: false });
    expect(res.reason).toContain('does not exist');
  });

  it('an empty command → failed, not retryable', async () => {
    expect(await startAttempt(req([])).done).toMatchObject({ state: 'failed', retryable: false, reason: 'cannot start: the command is empty' });
  });

  it('a log directory that cannot be created → failed before starting, retryable (a node-side problem)', async () => {
    const blocker = path.join(root, 'a-file');
    writeFileSync(blocker, '');
    const marker = path.join(root, 'must-not-exist');
    const res = await startAttempt(sh(`touch ${marker}`, { logPath: path.join(blocker, 'x.log') })).done;
    expect(res).toMatchObject({ state: 'failed', retryable: true, startedAt: null });
    expect(res.reason).toMatch(/^cannot start: cannot create log dir .*a-file/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('startAttempt: the log', () => {
  it('appends stdout and stderr to the log, creating its directory', async () => {
    const r = sh('echo out; echo err >&2');
    await startAttempt(r).done;
    expect(logOf(r).split('\n').sort()).toEqual(['', 'err', 'out']);
  });

  it('keeps the head up to the cap with one line saying so; the job runs on unhindered', async () => {
    const cap = 100_000;
    const r = sh('yes | head -c 5000000; echo done >&2', { logCapBytes: cap });
    const res = await startAttempt(r).done;
    expect(res).toMatchObject({ state: 'succeeded', logTruncated: true });
    const log = logOf(r);
    expect(log.slice(0, cap)).toBe('y\n'.repeat(cap / 2));
    expect(log.slice(cap)).toBe(`[gpuq] log truncated at ${cap} bytes\n`);
    expect(log).not.toContain('done');
  });

  it('a log file that cannot be opened does not fail the job; the result says its output was lost', async () => {
    const r = sh('echo hello; exit 0');
    mkdirSync(r.logPath, { recursive: true }); // a directory where the file should be
    const res = await startAttempt(r).done;
    expect(res.state).toBe('succeeded');
    expect(res.reason).toMatch(/^exited with code 0; its output was not logged: EISDIR/);
  });

  it('is cut back to the cap while the job still runs', async () => {
    const cap = 10_000;
    const flag = path.join(root, `cut-${nextId}`);
    const r = sh(`head -c 50000 /dev/zero | tr '\\0' x; touch ${flag}; exec sleep 1000`, { logCapBytes: cap });
    const a = startAttempt(r);
    await waitFor('the output to be written', () => (existsSync(flag) ? true : undefined));
    const marker = `\n[gpuq] log truncated at ${cap} bytes\n`;
    await waitFor('the log to be cut', () => (statSync(r.logPath).size === cap + marker.length ? true : undefined), CAP_CHECK_MS + 5000);
    expect(logOf(r)).toBe('x'.repeat(cap) + marker);
    a.kill('cancel');
    expect(await a.done).toMatchObject({ state: 'cancelled', logTruncated: true });
  });

  it('output of exactly the cap is kept whole, without a truncation line', async () => {
    const r = sh('printf 0123456789', { logCapBytes: 10 });
    const res = await startAttempt(r).done;
    expect(logOf(r)).toBe('0123456789');
    expect(res.logTruncated).toBe(false);
  });
});

describe('startAttempt: killing', () => {
  it('a timeout kills the whole tree, including a grandchild that escaped with setsid', async () => {
    const pidFile = path.join(root, `timeout-${nextId}.pids`);
    const r = sh(treeScript(pidFile), { timeoutMs: 1000, killGraceMs: 500 });
    const a = startAttempt(r);
    const t0 = Date.now();
    const pids = await pidsIn(pidFile, 3);
    expect(pids.every((p) => !isDead(p))).toBe(true);
    const res = await a.done;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(res).toMatchObject({ state: 'timed_out', retryable: true, reason: 'timed out after 1s' });
    expect(pids.filter((p) => !isDead(p))).toEqual([]);
  });

  it('cancel kills the tree and is not retryable; it does not wait out the grace when everything died on SIGTERM', async () => {
    const pidFile = path.join(root, `cancel-${nextId}.pids`);
    const a = startAttempt(sh(treeScript(pidFile), { killGraceMs: 20_000 }));
    const pids = await pidsIn(pidFile, 3);
    const t0 = Date.now();
    a.kill('cancel');
    a.kill('timeout'); // the first reason wins
    const res = await a.done;
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(res).toMatchObject({ state: 'cancelled', retryable: false, reason: 'cancelled' });
    expect(pids.filter((p) => !isDead(p))).toEqual([]);
  });

  it('escalates to SIGKILL after the grace when the tree ignores SIGTERM', async () => {
    const pidFile = path.join(root, `stubborn-${nextId}.pids`);
    // An ignored signal stays ignored across fork and exec: every process here ignores SIGTERM.
    const a = startAttempt(sh(treeScript(pidFile, "trap '' TERM"), { killGraceMs: 700 }));
    const pids = await pidsIn(pidFile, 3);
    const t0 = Date.now();
    a.kill('shutdown');
    const res = await a.done;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(650);
    expect(res).toMatchObject({ state: 'failed', retryable: true, signal: 'SIGKILL', reason: 'interrupted: the gpuq agent shut down' });
    expect(pids.filter((p) => !isDead(p))).toEqual([]);
  });

  it('a kill while preparing means the program never runs', async () => {
    const marker = path.join(root, `never-${nextId}`);
    const a = startAttempt(sh(`touch ${marker}`));
    a.kill('cancel');
    await expect(a.started).rejects.toThrow();
    expect(await a.done).toMatchObject({ state: 'cancelled', retryable: false, startedAt: null });
    expect(existsSync(marker)).toBe(false);
  });

  it('a kill after the job exited by itself changes nothing', async () => {
    const a = startAttempt(sh('exit 5'));
    const { pid } = await a.started;
    // Node reaps the leader right before it emits 'exit': once /proc has no entry, the executor knows it exited.
    await waitFor('the leader to be reaped', () => (existsSync(`/proc/${pid}`) ? undefined : true));
    a.kill('cancel');
    expect(await a.done).toMatchObject({ state: 'failed', exitCode: 5, reason: 'exited with code 5', retryable: true });
  });
});

describe('startAttempt: a job that exits normally', () => {
  it('leaves no background child behind', async () => {
    const pidFile = path.join(root, `bg-${nextId}.pids`);
    // Only the group kill ends it: the job's exit leaves it running in the background.
    const r = sh(`sleep 1000 >/dev/null 2>&1 & echo $! > ${pidFile}`);
    const res = await startAttempt(r).done;
    expect(res.state).toBe('succeeded');
    const [pid] = await pidsIn(pidFile, 1);
    expect(isDead(pid!)).toBe(true);
  });

  it('a grandchild that escaped its group is found by the orphan sweep and killed, and reported', async () => {
    const pidFile = path.join(root, `escaped-${nextId}.pids`);
    const reported: number[] = [];
    const orphans = new OrphanSweep((killed) => reported.push(...killed.map((k) => k.pid)));
    const r = sh(`setsid /bin/sh -c 'echo $$ > ${pidFile}; exec sleep 1000' & while [ ! -s ${pidFile} ]; do sleep 0.01; done`, { orphans });
    const res = await startAttempt(r).done;
    expect(res.state).toBe('succeeded');
    const [pid] = await pidsIn(pidFile, 1);
    await waitFor('the escapee to be killed', () => (isDead(pid!) ? true : undefined), SWEEP_DELAY_MS + 5000);
    await waitFor('the kill to be reported', () => (reported.includes(pid!) ? true : undefined));
  });
});

describe('startAttempt: many at once', () => {
  it('runs 200 short jobs 16 at a time, each with its own log and result', async () => {
    const reqs = Array.from({ length: 200 }, (_, i) => sh(`echo ${i}; exit ${i % 3}`));
    const results = new Array<string>(reqs.length);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < reqs.length) {
          const i = next++;
          results[i] = (await startAttempt(reqs[i]!).done).state;
        }
      }),
    );
    expect(results).toEqual(reqs.map((_, i) => (i % 3 === 0 ? 'succeeded' : 'failed')));
    for (const [i, r] of reqs.entries()) expect(await readFile(r.logPath, 'utf8')).toBe(`${i}\n`);
    expect(statSync(reqs[0]!.artifactsDir).isDirectory()).toBe(true);
  });
});

describe('startAttempt: result and artifacts', () => {
  it('reads the result file and lists the artifacts once the attempt has ended, however it ended', async () => {
    const ok = sh('printf \'{"a": 1}\' > "$GPUQ_RESULT_FILE"; echo x > "$GPUQ_ARTIFACTS_DIR/out.txt"');
    const res = await startAttempt(ok).done;
    expect(res).toMatchObject({ state: 'succeeded', reason: 'exited with code 0' });
    expect(res.output).toEqual({ result: '{"a": 1}', note: null, artifacts: [{ name: 'out.txt', bytes: 2 }, { name: 'result.json', bytes: 8 }] });

    const failed = await startAttempt(sh('echo "not json" > "$GPUQ_RESULT_FILE"; exit 3')).done;
    expect(failed.state).toBe('failed');
    expect(failed.reason).toMatch(/^exited with code 3; result not kept: result\.json is not valid JSON/);
    expect(failed.output).toMatchObject({ result: null, artifacts: [{ name: 'result.json', bytes: 9 }] });

    expect((await startAttempt(req(['/no/such/program'])).done).output).toBeUndefined();
  });
});
