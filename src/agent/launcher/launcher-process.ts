import { systemClock } from '../../core/clock.js';
import { startAttempt, type RunningAttempt } from '../executor.js';
import type { FromLauncher, ToLauncher } from './protocol.js';

/**
 * The launcher: a child of the agent that spawns and watches job processes.
 * If the agent goes away (the IPC channel closes, e.g. gpuq was killed -9),
 * the launcher kills every attempt it runs and exits, so no job outlives the
 * orchestrator that was accounting for it.
 */
const running = new Map<number, RunningAttempt>();
const now = () => systemClock.now();

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
      const r = startAttempt({ ...msg.req, now });
      running.set(msg.req.attemptId, r);
      r.started.then(
        (s) => send({ t: 'started', attemptId: msg.req.attemptId, pid: s.pid, startedAt: s.startedAt }),
        () => send({ t: 'notStarted', attemptId: msg.req.attemptId }),
      );
      void r.done.then((result) => {
        running.delete(msg.req.attemptId);
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
