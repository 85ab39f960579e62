import { readdir, readFile } from 'node:fs/promises';

/**
 * Finding and killing the processes of an attempt, Linux /proc only.
 *
 * Every attempt's process starts in its own session and process group (the
 * leader's pid is the group id), and carries GPUQ_ATTEMPT_KEY=<agent>/<id> in
 * its environment, which its descendants inherit. Signalling the group reaches
 * everything that stayed in it; a descendant that left the group (setsid,
 * a double fork into a new session) is found by the marker in
 * /proc/<pid>/environ. A process that rewrote its environment before exec
 * cannot be found this way; that is the known gap.
 *
 * The marker names the agent as well as the attempt: attempt ids are unique
 * within one store, and several gpuq agents on one machine (each with its own
 * store, or test servers side by side) would otherwise kill each other's jobs.
 * The agent part is stable across restarts of the same agent (its node name
 * and data directory), so a restarted agent still finds its orphans.
 *
 * A zombie (state Z) is dead: it holds no memory and no GPU context, only a
 * pid waiting for its parent (or init) to reap it. Where init does not reap
 * (some containers), zombies stay forever, so "gone" here means "no process
 * in that state other than Z".
 */

export const ATTEMPT_MARKER = 'GPUQ_ATTEMPT_KEY';

/** The marker value of attempt `attemptId` run by the agent whose key is `agentKey`. */
export function attemptMarker(agentKey: string, attemptId: number): string {
  return `${agentKey}/${attemptId}`;
}

export interface ProcStat {
  pid: number;
  /** One letter: R running, S sleeping, D uninterruptible, Z zombie, T stopped, ... */
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  // ENOENT/ESRCH: the process went away mid-scan. EACCES/EPERM: another user's process.
  return code === 'ENOENT' || code === 'ESRCH' || code === 'EACCES' || code === 'EPERM';
}

/** Sends a signal to a process (pid > 0) or a process group (pid < 0). False when there is nobody to receive it. */
export function sendSignal(target: number, signal: NodeJS.Signals | 0): boolean {
  // ESRCH is the usual answer (every normal exit signals an empty group); a stack trace for it costs more than the syscall.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    process.kill(target, signal);
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Parses /proc/<pid>/stat; the command name may contain spaces and parentheses, so fields are read after the last ')'. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).split(' ');
  const pid = Number(text.slice(0, open).trim());
  const [state, ppid, pgid, sid] = [rest[0] ?? '', Number(rest[1]), Number(rest[2]), Number(rest[3])];
  if (!Number.isInteger(pid) || !state || !Number.isInteger(ppid) || !Number.isInteger(pgid) || !Number.isInteger(sid)) return null;
  return { pid, state, ppid, pgid, sid };
}

export async function readProcStat(pid: number | 'self'): Promise<ProcStat | null> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'latin1'));
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

/** True while the process exists and is not a zombie. */
export async function isAlive(pid: number): Promise<boolean> {
  const st = await readProcStat(pid);
  return st !== null && st.state !== 'Z';
}

export async function listPids(): Promise<number[]> {
  const names = await readdir('/proc');
  const pids: number[] = [];
  for (const n of names) {
    const c = n.charCodeAt(0);
    if (c >= 48 && c <= 57) pids.push(Number(n));
  }
  return pids;
}

const MARKER_BYTES = Buffer.from(`${ATTEMPT_MARKER}=`);

/** The attempt marker in an environ block (NUL-separated NAME=value), or null. Only a whole entry counts, not a substring of another value. */
export function markerInEnviron(environ: Buffer): string | null {
  let at = environ.indexOf(MARKER_BYTES);
  while (at >= 0) {
    if (at === 0 || environ[at - 1] === 0) {
      const start = at + MARKER_BYTES.length;
      let end = environ.indexOf(0, start);
      if (end < 0) end = environ.length;
      const value = environ.toString('latin1', start, end);
      return /^[^/]+\/\d+$/.test(value) ? value : null;
    }
    at = environ.indexOf(MARKER_BYTES, at + 1);
  }
  return null;
}

/** Runs `fn` over `items` with at most `limit` in flight (so a scan never opens thousands of files at once). */
async function forEachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface MarkedProcess {
  pid: number;
  /** Its attempt marker (attemptMarker()). */
  marker: string;
}

/** Scans /proc once for live (non-zombie) processes carrying one of `markers`. Skips `exclude`. */
export async function findAttemptProcesses(markers: Iterable<string>, exclude: ReadonlySet<number> = new Set()): Promise<MarkedProcess[]> {
  const wanted = new Set(markers);
  if (wanted.size === 0) return [];
  const found: MarkedProcess[] = [];
  const pids = (await listPids()).filter((p) => p !== process.pid && !exclude.has(p));
  await forEachLimited(pids, 32, async (pid) => {
    let environ: Buffer;
    try {
      environ = await readFile(`/proc/${pid}/environ`);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    const marker = markerInEnviron(environ);
    if (marker !== null && wanted.has(marker)) found.push({ pid, marker });
  });
  return found;
}

/** This process and its ancestors, and the groups they lead or belong to: never signalled by a scan. */
async function protectedProcesses(): Promise<{ pids: Set<number>; pgids: Set<number> }> {
  const pids = new Set<number>([process.pid]);
  const pgids = new Set<number>([0, 1]);
  let pid: number | 'self' = 'self';
  for (let depth = 0; depth < 64; depth++) {
    const st: ProcStat | null = await readProcStat(pid);
    if (!st) break;
    pids.add(st.pid);
    pgids.add(st.pgid);
    if (st.ppid <= 1) break;
    pid = st.ppid;
  }
  return { pids, pgids };
}

/**
 * SIGKILLs every process carrying one of `markers`, and the
 * process group of each. Used when gpuq restarts after a crash to kill the
 * orphans of attempts it lost, and after killing an attempt to catch escapees.
 * Never signals itself, its ancestors or their groups. Resolves the marked
 * processes it killed (group members without the marker are not listed).
 */
export async function killAttemptProcesses(markers: Iterable<string>): Promise<MarkedProcess[]> {
  const wanted = [...markers];
  if (wanted.length === 0) return [];
  const guard = await protectedProcesses();
  const found = await findAttemptProcesses(wanted, guard.pids);
  const killed: MarkedProcess[] = [];
  await forEachLimited(found, 32, async (p) => {
    const st = await readProcStat(p.pid);
    if (!st || st.state === 'Z') return;
    if (sendSignal(p.pid, 'SIGKILL')) killed.push(p);
    if (!guard.pgids.has(st.pgid)) sendSignal(-st.pgid, 'SIGKILL');
  });
  return killed;
}

/** Live (non-zombie) processes whose process group is `pgid`; one /proc scan. */
export async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  await forEachLimited(await listPids(), 32, async (pid) => {
    const st = await readProcStat(pid);
    if (st && st.pgid === pgid && st.state !== 'Z') members.push(pid);
  });
  return members;
}

/**
 * True while the group has a live member. Cheap when the group is empty
 * (one kill(2) answering ESRCH); a /proc scan only when it is not, to tell
 * live members from zombies nobody reaps.
 */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (!sendSignal(-pgid, 0)) return false;
  return (await groupMembers(pgid)).length > 0;
}
