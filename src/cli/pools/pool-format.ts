import type { Pool, PoolReplica, PoolTask } from '../../core/pool-spec.js';
import { replicaCounts, taskRate as rate, type PoolColdStart, type PoolView } from '../../core/pool-view.js';
import { ago, duration, table } from '../output.js';

/** What `gpuq pool ls`, `show` and `task` print. Pure: the time is an input. */

export const POOL_HEADERS = ['NAME', 'STATE', 'REPLICAS', 'GPUS', 'BACKLOG', 'RUNNING', 'TASKS/S', 'COLD-START'];

/** "2/3 (max 4)": ready replicas / live replicas, and the pool's maximum. */
export function replicaCount(p: PoolView): string {
  const n = replicaCounts(p);
  return `${n.ready}/${n.live} (max ${n.max})`;
}

/** A cold start as accepted → result in ms, the whole figure the table has room for. */
export function coldStartTotal(c: PoolColdStart | null): string {
  return c === null ? '-' : `${Math.round(c.resultAt - c.acceptedAt)} ms`;
}

/** "accepted → ready 4210 ms → result 4236 ms (task 17, replica 42)". */
export function coldStartLine(c: PoolColdStart): string {
  const ready = c.replicaReadyAt === null ? 'ready ?' : `ready ${Math.round(c.replicaReadyAt - c.acceptedAt)} ms`;
  return `accepted → ${ready} → result ${Math.round(c.resultAt - c.acceptedAt)} ms (task ${c.taskId}, replica ${c.replicaJobId})`;
}

export function poolRow(p: PoolView): string[] {
  const failed = p.throughput.failedPerSecond > 0 ? ` (${rate(p.throughput.failedPerSecond)} failed)` : '';
  return [p.name, p.state, replicaCount(p), String(p.gpusHeld), String(p.backlog.queued), String(p.backlog.running), rate(p.throughput.succeededPerSecond) + failed, coldStartTotal(p.coldStart)];
}

export function poolTable(pools: PoolView[]): string {
  return table(POOL_HEADERS, pools.map(poolRow));
}

/** How long a replica has run: to now while live, to its end once ended; from its start (its creation while pending). */
export function uptime(r: PoolReplica, now: number): string {
  if (r.startedAt === null) return r.endedAt === null ? `${ago(r.createdAt, now)} pending` : '-';
  return ago(r.startedAt, r.endedAt ?? now);
}

export const REPLICA_HEADERS = ['JOB', 'STATE', 'NODE', 'GPUS', 'UPTIME', 'TASKS', 'END-REASON'];

export function replicaRow(r: PoolReplica, now: number): string[] {
  const state = r.state + (r.stopRequested && r.state !== 'ended' && r.state !== 'stopping' ? ' (stop asked)' : '');
  const end = r.endReason === null ? '-' : r.endDetail ? `${r.endReason}: ${r.endDetail}` : r.endReason;
  return [String(r.jobId), state, r.nodeId ?? '-', r.devices.length ? r.devices.join(',') : '-', uptime(r, now), String(r.tasksDone), end];
}

function secs(s: number): string {
  return `${s} s`;
}

/** The definition, one aspect per line. */
export function describeDefinition(p: Pool): string[] {
  const s = p.spec;
  const mp = s.memoryPolicy;
  const lines = [
    `pool ${p.name}  [${p.state}]  generation ${p.generation}`,
    `  command      ${s.command.map((a) => JSON.stringify(a)).join(' ')}`,
    `  per replica  gpus ${s.gpus}  cpus ${s.cpus}  memory ${s.memoryMb} MiB  concurrency ${s.concurrency}`,
    `  replicas     min ${s.minReplicas}  max ${s.maxReplicas}  target backlog ${s.targetBacklog} per ready replica`,
    `  timeouts     idle ${secs(s.idleTimeoutSeconds)}  task ${secs(s.taskTimeoutSeconds)}  start ${secs(s.startTimeoutSeconds)}  grace ${secs(s.graceSeconds)}`,
    `  tasks        max attempts ${s.maxAttempts}  backoff ${s.backoff.initialSeconds} s → ${s.backoff.maxSeconds} s ×${s.backoff.multiplier}`,
    `  memory       ${mp.killOnOom ? 'kill on OOM' : 'OOM only reported'}  GPU memory limit ${mp.gpuMemoryLimitMb === undefined ? '-' : `${mp.gpuMemoryLimitMb} MiB`}  eviction priority ${mp.evictionPriority}`,
  ];
  if (s.cwd !== undefined) lines.push(`  cwd          ${s.cwd}`);
  if (Object.keys(s.env).length) lines.push(`  env          ${Object.entries(s.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  if (Object.keys(s.nodeSelector).length) lines.push(`  nodes        ${Object.entries(s.nodeSelector).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return lines;
}

/** `gpuq pool show`: the definition, what it does now, and its replicas (live, and ended in the last 10 minutes). */
export function describePool(p: PoolView, now: number): string {
  const b = p.backlog;
  const lines = [
    ...describeDefinition(p),
    '',
    `backlog      ${b.queued} queued (${b.runnable} runnable now)  ${b.running} running`,
    `throughput   ${rate(p.throughput.succeededPerSecond)} tasks/s succeeded, ${rate(p.throughput.failedPerSecond)} failed (last 60 s)`,
    `GPUs held    ${p.gpusHeld}  replicas ready/live ${replicaCount(p)}`,
    `cold start   ${p.coldStart === null ? '- (none measured yet)' : coldStartLine(p.coldStart)}`,
  ];
  if (p.replicas.length) {
    lines.push('', 'replicas:', table(REPLICA_HEADERS, p.replicas.map((r) => replicaRow(r, now))));
  } else {
    lines.push('', 'replicas: none');
  }
  return lines.join('\n');
}

export const TASK_HEADERS = ['ID', 'STATE', 'ATTEMPTS', 'REPLICA', 'AGE', 'KEY', 'ERROR'];

export function taskRow(t: PoolTask, now: number): string[] {
  return [String(t.id), t.state + (t.inDlq ? ' (dlq)' : ''), `${t.attempts}/${t.attemptLimit}`, t.replicaJobId === null ? '-' : String(t.replicaJobId), ago(t.createdAt, now), t.idempotencyKey ?? '-', t.error ?? ''];
}

/** A JSON value on one line (results and payloads). */
export function compact(v: unknown): string {
  return v === undefined ? '-' : JSON.stringify(v);
}

/** `gpuq pool task`: state, attempts, each redelivery, and the result or the error. */
export function describeTask(t: PoolTask, now: number): string {
  const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
  const took = t.finishedAt !== null ? `  (${duration(t.finishedAt - t.createdAt)} after submit)` : '';
  const lines = [
    `task ${t.id}  pool ${t.pool}  [${t.state}${t.inDlq ? ', in DLQ' : ''}]`,
    `  attempts ${t.attempts}/${t.attemptLimit}  replica ${t.replicaJobId ?? '-'}${t.cold ? '  cold (no replica was ready when it came)' : ''}`,
    `  created  ${iso(t.createdAt)}  started ${iso(t.startedAt)}  finished ${iso(t.finishedAt)}${took}`,
  ];
  if (t.state === 'queued' && t.notBefore > now) lines.push(`  next delivery not before ${iso(t.notBefore)} (backoff)`);
  if (t.idempotencyKey !== null) lines.push(`  key      ${t.idempotencyKey}`);
  lines.push(`  payload  ${compact(t.payload)}`);
  if (t.history.length) {
    lines.push('', 'redeliveries:', table(['ATTEMPT', 'REPLICA', 'TIME', 'REASON'], t.history.map((h) => [h.attempt, h.replicaJobId ?? '-', iso(h.at), h.reason])));
  }
  if (t.state === 'succeeded') lines.push('', `result: ${compact(t.result)}`);
  if (t.error !== null) lines.push('', `error: ${t.error}`);
  return lines.join('\n');
}
