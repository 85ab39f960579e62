import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { attemptMarker, findAttemptProcesses, groupAlive, groupMembers, killAttemptProcesses, markerInEnviron, parseProcStat } from './process-tree.js';

// Markers of an agent key unique to this test process, so no other gpuq on the machine is touched.
const KEY = `test-${process.pid}`;
let nextId = 1;
const newMarker = () => attemptMarker(KEY, nextId++);
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A sleeper in its own session carrying GPUQ_ATTEMPT_KEY=<marker>, as an orphan of a crashed agent would be. */
function orphan(marker: string, cmd = 'exec sleep 1000'): ChildProcess {
  const c = spawn('/usr/bin/setsid', ['/bin/sh', '-c', cmd], { env: { PATH: process.env.PATH, GPUQ_ATTEMPT_KEY: marker }, stdio: 'ignore' });
  children.push(c);
  return c;
}

const exited = (c: ChildProcess) => new Promise<NodeJS.Signals | null>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.signalCode) : c.once('exit', (_code, sig) => resolve(sig))));

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until the process has exec'd `sleep`, so its environ is the one the scan reads. */
function execd(pid: number): Promise<true> {
  return waitFor(`process ${pid} to become sleep`, async () => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep' ? true : undefined;
    } catch {
      return undefined;
    }
  });
}

describe('parsing /proc', () => {
  it('reads stat fields after the command name, even when it holds spaces and parentheses', () => {
    expect(parseProcStat('1234 (we) ird (x)) S 1 1230 1200 0 -1 4194560')).toEqual({ pid: 1234, state: 'S', ppid: 1, pgid: 1230, sid: 1200 });
    expect(parseProcStat('garbage')).toBeNull();
  });

  it('finds the marker only as a whole environment entry', () => {
    const env = (...kv: string[]) => Buffer.from(kv.join('\0') + '\0');
    expect(markerInEnviron(env('GPUQ_ATTEMPT_KEY=k1/17', 'PATH=/bin'))).toBe('k1/17');
    expect(markerInEnviron(env('PATH=/bin', 'GPUQ_ATTEMPT_KEY=k1/18'))).toBe('k1/18');
    expect(markerInEnviron(env('X=GPUQ_ATTEMPT_KEY=k1/19', 'PATH=/bin'))).toBeNull();
    expect(markerInEnviron(env('X_GPUQ_ATTEMPT_KEY=k1/20'))).toBeNull();
    expect(markerInEnviron(env('X=GPUQ_ATTEMPT_KEY=k1/19', 'GPUQ_ATTEMPT_KEY=k2/21'))).toBe('k2/21');
    expect(markerInEnviron(env('GPUQ_ATTEMPT_KEY=k1/abc'))).toBeNull();
    expect(markerInEnviron(env('GPUQ_ATTEMPT_KEY=17'))).toBeNull();
    expect(markerInEnviron(Buffer.alloc(0))).toBeNull();
  });
});

describe('killAttemptProcesses', () => {
  it('finds a detached process by its marker and kills it, leaving other attempts alone', async () => {
    const [mine, other] = [newMarker(), newMarker()];
    const target = orphan(mine);
    const bystander = orphan(other);
    await Promise.all([execd(target.pid!), execd(bystander.pid!)]);
    expect((await findAttemptProcesses([mine])).map((p) => p.pid)).toEqual([target.pid]);

    expect(await killAttemptProcesses([mine, newMarker()])).toHaveLength(1);
    expect(await exited(target)).toBe('SIGKILL');
    expect(bystander.exitCode).toBeNull();
    expect(bystander.signalCode).toBeNull();
    expect(await findAttemptProcesses([other])).toHaveLength(1);
  });

  it("kills the orphan's whole process group, members without the marker too", async () => {
    const id = newMarker();
    // The group leader carries the marker; its child has had the marker removed from its environment.
    const leader = orphan(id, 'env -u GPUQ_ATTEMPT_KEY sleep 1000 & wait');
    const members = await waitFor('two processes in the group', async () => {
      const m = await groupMembers(leader.pid!);
      return m.length >= 2 ? m : undefined;
    });
    expect(members).toHaveLength(2);
    const unmarked = members.find((p) => p !== leader.pid)!;
    await execd(unmarked);
    expect((await findAttemptProcesses([id])).map((p) => p.pid)).toEqual([leader.pid]);

    expect(await killAttemptProcesses([id])).toHaveLength(1);
    expect(await exited(leader)).toBe('SIGKILL');
    // The unmarked member went with its group (a zombie at most, where nobody reaps orphans).
    expect(await waitFor('the group to die', async () => ((await groupAlive(leader.pid!)) ? undefined : true))).toBe(true);
  });

  it('kills nothing when no process carries the marker, nor a process of the same attempt id under another agent', async () => {
    expect(await killAttemptProcesses([])).toHaveLength(0);
    expect(await killAttemptProcesses([newMarker()])).toHaveLength(0);
    // The same attempt id under another agent's key is another agent's process: not this one's to kill.
    const theirs = orphan(attemptMarker('another-agent', nextId));
    await execd(theirs.pid!);
    expect(await killAttemptProcesses([attemptMarker(KEY, nextId)])).toHaveLength(0);
    expect(theirs.signalCode).toBeNull();
  });
});
