import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// Two real `gpuq up` servers, each with its own local agent and simulated GPUs, sharing one PostgreSQL
// schema: one leads (schedules for both nodes), the other serves the API and runs what the leader assigns
// to its node. The leader is killed -9 in the middle of the work.
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

interface LeaderStatus {
  leader: { replica: string; term: number } | null;
  self: { replica: string; leader: boolean };
}

const leaderOf = async (s: GpuqProcess) => (await (await fetch(`${s.url}/v1/status/leader`)).json()) as LeaderStatus;

describe('cluster: two servers on PostgreSQL', () => {
  it('the follower takes over within 10 s when the leader is killed -9; every job succeeds, no GPU is held twice', async () => {
    const { url } = await schemas.createForServer();
    const common = ['--database-url', url, '--lease-seconds', '3', '--kill-grace-seconds', '1'];
    const a = await startGpuq({ fakeGpus: 2, args: [...common, '--node-name', 'node-a'] });
    servers.push(a);
    const b = await startGpuq({ fakeGpus: 2, args: [...common, '--node-name', 'node-b'] });
    servers.push(b);

    const [fromA, fromB] = await Promise.all([leaderOf(a), leaderOf(b)]);
    expect(fromA.self.leader).toBe(true);
    expect(fromB.self.leader).toBe(false);
    expect(fromB.leader).toEqual(fromA.leader);
    expect(fromA.leader?.replica).toBe(fromA.self.replica);

    // Each attempt records its node, GPUs and times; the whole work spans both nodes.
    const out = tempDir('gpuq-cluster-');
    const script = `s=$(date +%s%N); echo "$GPUQ_JOB_ID $GPUQ_ATTEMPT $GPUQ_NODE $CUDA_VISIBLE_DEVICES $s" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT.start; sleep 0.3; e=$(date +%s%N); echo "$e" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT.end`;
    const { jobs } = await b.client.submitBatch(Array.from({ length: 40 }, (_, i) => ({ name: `work-${i}`, shell: script, gpus: 1, maxAttempts: 5, backoff: { initialSeconds: 0.1, maxSeconds: 0.5 } })));
    const ids = jobs.map((j) => j.id);
    // Both nodes run work: node-b's attempts were assigned by the leader on the other server.
    await until('both nodes to run work', () => {
      const starts = readdirSync(out).filter((f) => f.endsWith('.start')).map((f) => readFileSync(path.join(out, f), 'utf8'));
      return starts.some((s) => s.includes('node-a')) && starts.some((s) => s.includes('node-b'));
    }, 20_000);

    const killedAt = Date.now();
    await a.crash();
    servers.splice(servers.indexOf(a), 1);
    await until('the follower to lead', async () => (await leaderOf(b)).self.leader, 15_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(10_000);
    const after = await leaderOf(b);
    expect(after.leader?.replica).toBe(after.self.replica);
    expect(after.leader!.term).toBeGreaterThan(fromA.leader!.term);

    const done = await waitForJobs(b.client, ids, Date.now() + 90_000);
    expect(done.timedOut).toBe(false);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));

    // From the jobs' own records: on each node, no GPU was held by two attempts at overlapping times.
    // An attempt killed with its server has no end record: it held its GPU until the server died.
    const records = readdirSync(out)
      .filter((f) => f.endsWith('.start'))
      .map((f) => {
        const [jobId, attempt, node, gpus, start] = readFileSync(path.join(out, f), 'utf8').trim().split(' ');
        const endFile = path.join(out, f.replace(/\.start$/, '.end'));
        const end = existsSync(endFile) ? Number(readFileSync(endFile, 'utf8')) / 1e6 : killedAt;
        return { jobId: Number(jobId), attempt: Number(attempt), node: node!, gpu: Number(gpus), start: Number(start) / 1e6, end };
      });
    for (const node of ['node-a', 'node-b']) {
      for (const gpu of [0, 1]) {
        const held = records.filter((r) => r.node === node && r.gpu === gpu).sort((x, y) => x.start - y.start);
        for (let i = 1; i < held.length; i++) expect(held[i]!.start).toBeGreaterThanOrEqual(held[i - 1]!.end);
      }
    }
    // Every job finished by a recorded attempt; retries of attempts lost with node-a show as more attempts.
    for (const job of done.jobs) expect(records.some((r) => r.jobId === job.id && r.attempt === job.attempts)).toBe(true);
  }, 150_000);
});
