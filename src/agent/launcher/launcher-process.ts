import { systemClock } from '../../core/clock.js';
import { startAttempt, type RunningAttempt } from '../executor.js';
import { OrphanSweep } from '../orphan-sweep.js';
import type { FromLauncher, ToLauncher } from './protocol.js';

/**
 * The launcher: a child of the agent that spawns and watches job processes.
 * If the agent goes away (the IPC channel closes, e.g. gpuq was killed -9),
 * the launcher kills every attempt it runs and exits, so no job outlives the
 * orchestrator that was accounting for it.
 */
const running = new Map<number, RunningAttempt>();
const now = () => systemClock.now();
const orphans = new OrphanSweep((killed) => send({ t: 'orphansKilled', killed }));

/**
 * How long a start report is held back. An attempt that ends within it has its
 * start reported together with its end, in one message: the agent then makes
 * one report and the store one write for the attempt instead of two, which
 * for short jobs is a large share of the server's work per job. A longer
 * attempt is reported running at most this late; the start time it records is
 * the exact one either way.
 */
const START_REPORT_HOLD_MS = 20;
/** Start reports held back, oldest first, with when each was held (performance.now()). */
const heldStarts = new Map<number, { msg: FromLauncher; at: number }>();
let holdTimer: NodeJS.Timeout | null = null;

function holdStart(attemptId: number, msg: FromLauncher): void {
  heldStarts.set(attemptId, { msg, at: performance.now() });
  holdTimer ??= setTimeout(releaseStarts, START_REPORT_HOLD_MS);
}

/** Sends the start reports held for their full time; waits again for the rest. */
function releaseStarts(): void {
  holdTimer = null;
  const due = performance.now() - START_REPORT_HOLD_MS;
  for (const [id, h] of heldStarts) {
    if (h.at > due) {
      holdTimer = setTimeout(releaseStarts, h.at - due);
      return;
    }
    heldStarts.delete(id);
    send(h.msg);
  }
}

/** Sends an attempt's start report now, if it is still held (its end follows it in the same batch). */
function sendHeldStart(attemptId: number): void {
  const h = heldStarts.get(attemptId);
  if (h === undefined) return;
  heldStarts.delete(attemptId);
  send(h.msg);
}

let outbox: FromLauncher[] = [];
function send(msg: FromLauncher): void {
  outbox.push(msg);
  if (outbox.length === 1) setImmediate(flush);
}
function flush(onSent?: () => void): void {
  const batch = outbox;
  outbox = [];
  if (process.connected && batch.length > 0) process.send!(batch, undefined, {}, () => onSent?.());
  else onSent?.();
}

async function shutdown(): Promise<void> {
  const all = [...running.values()];
  for (const r of all) r.kill('shutdown');
  await Promise.all(all.map((r) => r.done));
  flush(() => process.exit(0));
}

process.on('message', (batch: ToLauncher[]) => {
  for (const msg of batch) handle(msg);
});

function handle(msg: ToLauncher): void {
  switch (msg.t) {
    case 'start': {
      const r = startAttempt({ ...msg.req, now, orphans });
      running.set(msg.req.attemptId, r);
      r.started.then(
        (s) => holdStart(msg.req.attemptId, { t: 'started', attemptId: msg.req.attemptId, pid: s.pid, startedAt: s.startedAt }),
        () => send({ t: 'notStarted', attemptId: msg.req.attemptId }),
      );
      void r.done.then((result) => {
        running.delete(msg.req.attemptId);
        sendHeldStart(msg.req.attemptId);
        send({ t: 'ended', attemptId: msg.req.attemptId, result });
      });
      break;
    }
    case 'kill':
      running.get(msg.attemptId)?.kill(msg.reason);
      break;
    case 'stop':
      void shutdown();
      break;
  }
}
process.on('disconnect', () => void shutdown());
// The agent's signals (Ctrl-C in a terminal reaches the whole foreground group) are the agent's to act on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});
send({ t: 'ready' });
