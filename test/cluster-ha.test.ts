import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { GpuqClient } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// The high-availability guarantees of cluster mode, with real processes: `gpuq up --no-agent` control-plane
// replicas on one PostgreSQL schema with tokens required, and `gpuq agent` hosts (2 simulated GPUs each)
// that know every replica's URL. The leader is killed -9, or paused past its lease and resumed, in the
// middle of the work. What each attempt wrote about itself (node, GPU, start and end) proves that no GPU
// was ever held by two attempts at once and that no job ran two attempts at once.
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const s of servers.splice(0)) {
    // A paused server cannot act on SIGTERM (a test that failed while one was stopped).
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGCONT');
    await s.stop();
  }
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

interface LeaderStatus {
  leader: { replica: string; term: number } | null;
  self: { replica: string; leader: boolean };
  replicas: { id: string; url: string | null; leader: boolean }[];
}

/**
 * Control-plane replicas on a fresh schema, started one after the other (the first leads), and a way to
 * start agents. Attempt leases are 10 s: long enough that no running attempt is reclaimed while its agent
 * moves to another replica; the leader lease keeps its default (6 s, renewed every 2 s).
 */
async function cluster(replicas: number) {
  const { url: db } = await schemas.createForServer();
  const admin = await createToken(db, 'admin', 'root');
  const viewer = await createToken(db, 'viewer', 'dashboards');
  const agentToken = await createToken(db, 'agent', 'gpu-hosts');
  const started: GpuqProcess[] = [];
  for (let i = 0; i < replicas; i++) {
    const s = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required', '--lease-seconds', '10', '--log-level', 'info'] });
    servers.push(s);
    started.push(s);
  }
  const get = async (s: GpuqProcess, route: string, as = admin): Promise<Response> => {
    const res = await fetch(`${s.url}${route}`, { headers: { authorization: `Bearer ${as}` }, signal: AbortSignal.timeout(5000) });
    expect(res.status, `GET ${route}`).toBe(200);
    return res;
  };
  return {
    replicas: started,
    client: (s: GpuqProcess) => new GpuqClient(s.url, { token: admin }),
    leaderOf: async (s: GpuqProcess) => (await (await get(s, '/v1/status/leader')).json()) as LeaderStatus,
    metrics: async (s: GpuqProcess) => (await get(s, '/metrics', viewer)).text(),
    async agent(node: string, serverUrls: string[]): Promise<AgentProcess> {
      const a = await startAgent({ server: serverUrls, token: agentToken, node, args: ['--heartbeat-seconds', '0.5'] });
      agents.push(a);
      return a;
    },
  };
}

/** A 1-GPU job that records its attempt: `<job> <attempt> <node> <gpus> <start ns>` in `.start`, `<end ns>` in `.end`. */
function recordingJob(out: string, i: number, sleepMs: number) {
  const shell = `s=$(date +%s%N); echo "$GPUQ_JOB_ID $GPUQ_ATTEMPT $GPUQ_NODE $CUDA_VISIBLE_DEVICES $s" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT.start; sleep ${sleepMs / 1000}; e=$(date +%s%N); echo "$e" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT.end`;
  return { name: `work-${i}`, shell, gpus: 1, maxAttempts: 5, backoff: { initialSeconds: 0.1, maxSeconds: 0.5 } };
}

const ended = (out: string) => readdirSync(out).filter((f) => f.endsWith('.end')).length;

interface AttemptRecord {
  jobId: number;
  attempt: number;
  node: string;
  gpus: string[];
  /** ms */
  start: number;
  /** ms; Infinity for an attempt that wrote no end (it must then overlap nothing that started after it). */
  end: number;
}

function readRecords(out: string): AttemptRecord[] {
  return readdirSync(out)
    .filter((f) => f.endsWith('.start'))
    .map((f) => {
      const [jobId, attempt, node, gpus, start] = readFileSync(path.join(out, f), 'utf8').trim().split(' ');
      const endFile = path.join(out, f.replace(/\.start$/, '.end'));
      const end = existsSync(endFile) ? Number(readFileSync(endFile, 'utf8')) / 1e6 : Infinity;
      return { jobId: Number(jobId), attempt: Number(attempt), node: node!, gpus: gpus!.split(','), start: Number(start) / 1e6, end };
    });
}

/** Every overlap in time within a group of records that must never overlap (an attempt without an end overlaps all that start after it). */
function overlaps(groups: Map<string, AttemptRecord[]>): string[] {
  const found: string[] = [];
  for (const [key, recs] of groups) {
    const sorted = [...recs].sort((x, y) => x.start - y.start);
    let holder: AttemptRecord | null = null;
    for (const r of sorted) {
      if (holder !== null && r.start < holder.end) found.push(`${key}: job ${r.jobId} attempt ${r.attempt} started while job ${holder.jobId} attempt ${holder.attempt} held it`);
      if (holder === null || r.end > holder.end) holder = r;
    }
  }
  return found;
}

function groupBy(records: AttemptRecord[], keys: (r: AttemptRecord) => string[]): Map<string, AttemptRecord[]> {
  const m = new Map<string, AttemptRecord[]>();
  for (const r of records) for (const k of keys(r)) m.set(k, [...(m.get(k) ?? []), r]);
  return m;
}

/** No (node, GPU) held by two attempts at once, no job running two attempts at once, every job finished by a recorded attempt. */
function checkRecords(records: AttemptRecord[], jobs: { id: number; attempts: number }[]): void {
  expect(overlaps(groupBy(records, (r) => r.gpus.map((g) => `${r.node} GPU ${g}`)))).toEqual([]);
  expect(overlaps(groupBy(records, (r) => [`job ${r.jobId}`]))).toEqual([]);
  for (const job of jobs) {
    const last = records.find((r) => r.jobId === job.id && r.attempt === job.attempts);
    expect(last, `job ${job.id} attempt ${job.attempts}`).toBeDefined();
    expect(last!.end).toBeLessThan(Infinity);
  }
}

describe('cluster high availability: replicas on PostgreSQL, remote agents', () => {
  it('a leader killed -9 mid-work is replaced within 10 s; all 500 jobs succeed, no GPU is held by two attempts', async () => {
    const c = await cluster(2);
    const [a, b] = c.replicas as [GpuqProcess, GpuqProcess];
    const [fromA, fromB] = await Promise.all([c.leaderOf(a), c.leaderOf(b)]);
    expect([fromA.self.leader, fromB.self.leader]).toEqual([true, false]);
    // Either replica lists both as alive, the leader marked.
    const alive = await until('both replicas to be seen', async () => {
      const r = (await c.leaderOf(b)).replicas;
      return r.length === 2 ? r : undefined;
    }, 10_000);
    expect(alive.map((r) => [r.id, r.url, r.leader])).toEqual([[fromA.self.replica, a.url, true], [fromB.self.replica, b.url, false]]);
    // Two agents talk to the leader first (they must move when it dies), one to the other replica.
    await Promise.all([c.agent('gpu-a', [a.url, b.url]), c.agent('gpu-b', [b.url, a.url]), c.agent('gpu-c', [a.url, b.url])]);

    const out = tempDir('gpuq-ha-');
    const { jobs } = await c.client(b).submitBatch(Array.from({ length: 500 }, (_, i) => recordingJob(out, i, 50 + ((i * 37) % 150))));
    const ids = jobs.map((j) => j.id);
    await until('100 jobs to finish', () => ended(out) >= 100, 60_000, 50);

    const killedAt = Date.now();
    await a.crash();
    servers.splice(servers.indexOf(a), 1);
    await until('the other replica to lead', async () => (await c.leaderOf(b)).self.leader, 15_000);
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover after kill -9 of the leader: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(10_000);
    const after = await c.leaderOf(b);
    expect(after.leader?.replica).toBe(after.self.replica);
    expect(after.leader!.term).toBeGreaterThan(fromA.leader!.term);
    // Work was still going on when the leader died.
    expect(ended(out)).toBeLessThan(500);

    const done = await waitForJobs(c.client(b), ids, Date.now() + 120_000);
    expect(done.timedOut).toBe(false);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));
    const records = readRecords(out);
    // No agent died: every attempt that started ran to its end (none was reclaimed and killed under it).
    expect(records.filter((r) => r.end === Infinity)).toEqual([]);
    expect(new Set(records.map((r) => r.node))).toEqual(new Set(['gpu-a', 'gpu-b', 'gpu-c']));
    checkRecords(records, done.jobs);
  }, 240_000);

  it('a leader paused past its lease is fenced: resumed, it steps down and changes nothing; no GPU is held twice', async () => {
    const c = await cluster(2);
    const [a, b] = c.replicas as [GpuqProcess, GpuqProcess];
    const before = await c.leaderOf(a);
    expect(before.self.leader).toBe(true);
    // The agents talk to the replica that stays awake: what is under test is the paused leader's own writes.
    await Promise.all([c.agent('gpu-a', [b.url, a.url]), c.agent('gpu-b', [b.url, a.url])]);

    const out = tempDir('gpuq-ha-');
    const { jobs } = await c.client(b).submitBatch(Array.from({ length: 120 }, (_, i) => recordingJob(out, i, 150 + ((i * 37) % 150))));
    const ids = jobs.map((j) => j.id);
    await until('20 jobs to finish', () => ended(out) >= 20, 60_000, 50);

    process.kill(a.child.pid!, 'SIGSTOP');
    const stoppedAt = Date.now();
    const led = await until('the other replica to lead', async () => {
      const s = await c.leaderOf(b);
      return s.self.leader && s;
    }, 20_000);
    console.log(`takeover from a paused leader: ${Date.now() - stoppedAt} ms`);
    expect(led.leader!.replica).toBe(led.self.replica);
    expect(led.leader!.term).toBeGreaterThan(before.leader!.term);
    // Work goes on under the new leader while the old one sleeps.
    const endedAtTakeover = ended(out);
    await until('20 more jobs to finish under the new leader', () => ended(out) >= endedAtTakeover + 20, 60_000, 50);
    expect(ended(out)).toBeLessThan(120);

    process.kill(a.child.pid!, 'SIGCONT');
    // (a) It knows it no longer leads within a few seconds, (b) it says so in its log and its metrics.
    await until('the resumed server to step down', async () => !(await c.leaderOf(a)).self.leader, 5_000);
    const fromA = await c.leaderOf(a);
    expect(fromA.leader?.replica).toBe(led.self.replica);
    expect(fromA.leader!.term).toBe(led.leader!.term);
    expect(a.stderr()).toContain('this server is no longer the leader');
    expect(await c.metrics(a)).toMatch(/^gpuq_leader 0$/m);
    expect((await c.leaderOf(b)).self.leader).toBe(true);

    const done = await waitForJobs(c.client(b), ids, Date.now() + 120_000);
    expect(done.timedOut).toBe(false);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));
    // (c), (d): from the jobs' own records. No agent died, so every attempt that started ran to its end.
    const records = readRecords(out);
    expect(records.filter((r) => r.end === Infinity)).toEqual([]);
    checkRecords(records, done.jobs);
    // Whether its first write after waking was refused (NOT_LEADER) or its next claim saw the new holder
    // depends on which of its timers fires first: counted for the record, not asserted.
    console.log(`NOT_LEADER refusals logged by the resumed server: ${a.stderr().split('NOT_LEADER').length - 1}`);
  }, 240_000);
});
