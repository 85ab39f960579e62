import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { GpuqClient, type JobDetail } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, isAlive, leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// Cluster mode with real processes: a `gpuq up --no-agent` control plane on PostgreSQL with tokens required,
// and `gpuq agent` processes, each its own node with 2 simulated GPUs, talking to it over HTTP with an agent
// token. Leases are short (2 s) so losing an agent shows within seconds.
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

/** A control plane on a fresh schema, an admin client, and a way to start agents with an agent token. */
async function cluster() {
  const { url: db } = await schemas.createForServer();
  const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
  const replica = async () => {
    const s = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required', '--lease-seconds', '2'] });
    servers.push(s);
    return s;
  };
  const server = await replica();
  return {
    server,
    admin,
    client: new GpuqClient(server.url, { token: admin }),
    /** Another control-plane server on the same store. */
    replica,
    async agent(node: string, args: string[] = [], serverUrls: string[] = [server.url]): Promise<AgentProcess> {
      const a = await startAgent({ server: serverUrls, token: agentToken, node, args: ['--heartbeat-seconds', '0.3', ...args] });
      agents.push(a);
      return a;
    },
  };
}

/** What a job's attempt wrote about itself: `<node> <pid> ...`, in `<dir>/<job>.<attempt>`. */
function records(dir: string, jobId: number): { attempt: number; node: string; pid: number; rest: string[] }[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${jobId}.`))
    .map((f) => {
      const [node, pid, ...rest] = readFileSync(path.join(dir, f), 'utf8').trim().split(' ');
      return { attempt: Number(f.split('.')[1]), node: node!, pid: Number(pid), rest };
    })
    .sort((x, y) => x.attempt - y.attempt);
}

/** The agent's log lines (pino JSON on stderr) with this message. */
function logged(a: AgentProcess, msg: string): Record<string, unknown>[] {
  return a
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);
}

const waitingScript = (out: string, go: string) => `echo "$GPUQ_NODE $$" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT; while [ ! -f ${go} ]; do sleep 0.05; done; echo done`;
const retrying = { gpus: 1, maxAttempts: 10, backoff: { initialSeconds: 0.1, maxSeconds: 0.5 } };

describe('remote agents (gpuq agent) on a PostgreSQL control plane', () => {
  it('runs jobs on the agents pinned to their GPUs; their logs are read and followed through the API', async () => {
    const c = await cluster();
    await Promise.all([c.agent('gpu-a'), c.agent('gpu-b')]);
    const out = tempDir('gpuq-remote-');
    // Four 1-GPU jobs that overlap in time on 2 nodes × 2 GPUs: both nodes run some.
    const script = `echo "$GPUQ_NODE $$ $CUDA_VISIBLE_DEVICES $NVIDIA_VISIBLE_DEVICES" > ${out}/$GPUQ_JOB_ID.$GPUQ_ATTEMPT; echo "hello from $GPUQ_NODE"; sleep 1; echo bye`;
    const { jobs } = await c.client.submitBatch(Array.from({ length: 4 }, () => ({ shell: script, gpus: 1 })));
    const ids = jobs.map((j) => j.id);
    const done = await waitForJobs(c.client, ids, Date.now() + 30_000);
    expect(done.jobs.map((j) => j.state)).toEqual(ids.map(() => 'succeeded'));
    const nodes = new Set<string>();
    for (const id of ids) {
      const [rec] = records(out, id);
      const [attempt] = (await c.client.get(id)).attempts;
      // The job saw exactly the GPUs the store gave its attempt, on the node the store put it on.
      expect([rec!.node, rec!.rest[0], rec!.rest[1]]).toEqual([attempt!.nodeId, attempt!.devices.join(','), attempt!.devices.join(',')]);
      expect(await c.client.logs(id)).toBe(`hello from ${attempt!.nodeId}\nbye\n`);
      expect(await c.client.logs(id, { tail: 1 })).toBe('bye\n');
      nodes.add(attempt!.nodeId);
    }
    expect(nodes).toEqual(new Set(['gpu-a', 'gpu-b']));

    // Followed while it runs: the first line arrives before the job may finish.
    const go = path.join(out, 'go');
    const { job } = await c.client.submit({ shell: `echo first; while [ ! -f ${go} ]; do sleep 0.05; done; echo second` });
    const follow = c.client.followLogs(job.id)[Symbol.asyncIterator]();
    let text = '';
    while (!text.includes('first\n')) {
      const next = await follow.next();
      if (next.done) throw new Error(`the follow ended early: ${JSON.stringify(text)}`);
      text += next.value;
    }
    // Its start report may trail its first output by a moment (a loaded machine): the job waits for `go`, so it is running, not done.
    await until('the job to be reported running', async () => (await c.client.get(job.id)).job.state === 'running', 10_000);
    writeFileSync(go, '');
    for (let next = await follow.next(); !next.done; next = await follow.next()) text += next.value;
    expect(text).toBe('first\nsecond\n');
    const cli = await runCli(['logs', '-f', '--url', c.server.url, String(job.id)], { GPUQ_TOKEN: c.admin });
    expect([cli.code, cli.stdout]).toEqual([0, 'first\nsecond\n']);
  }, 90_000);

  it('marks the node of an agent stopped cleanly down at once, sooner than its heartbeats could', async () => {
    const c = await cluster();
    const a = await c.agent('gpu-leaving');
    expect((await c.client.nodes()).nodes.find((n) => n.id === 'gpu-leaving')?.state).toBe('up');
    const stoppedAt = Date.now();
    await a.stop();
    agents.splice(agents.indexOf(a), 1);
    // The server marks a silent node down after max(lease, 3 heartbeats) = 6 s; the agent's leave does it at once.
    await until('the node to be down', async () => (await c.client.nodes()).nodes.find((n) => n.id === 'gpu-leaving')?.state === 'down', 3000);
    expect(Date.now() - stoppedAt).toBeLessThan(6000);
  });

  it('reruns the jobs of an agent killed -9 on the other agents once their leases run out', async () => {
    const c = await cluster();
    const victim = await c.agent('gpu-a');
    const out = tempDir('gpuq-remote-');
    const go = path.join(out, 'go');
    const { jobs } = await c.client.submitBatch([1, 2].map(() => ({ shell: waitingScript(out, go), ...retrying })));
    const ids = jobs.map((j) => j.id);
    await until('both jobs to run on gpu-a', () => ids.every((id) => existsSync(path.join(out, `${id}.1`))));
    await Promise.all([c.agent('gpu-b'), c.agent('gpu-c')]);
    const pids = ids.map((id) => records(out, id)[0]!.pid);

    await victim.crash();
    // Its launchers kill its jobs when it dies (nothing is left running on a dead node).
    await until('the killed agent\'s job processes to be gone', () => pids.every((p) => !isAlive(p)), 10_000);
    await until('both jobs to run again on another agent', () => ids.every((id) => records(out, id).some((r) => r.node !== 'gpu-a')), 30_000);
    writeFileSync(go, '');
    const done = await waitForJobs(c.client, ids, Date.now() + 30_000);
    expect(done.jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded']);
    for (const id of ids) {
      const { attempts } = await c.client.get(id);
      expect(attempts[0]).toMatchObject({ nodeId: 'gpu-a', state: 'lost', reason: 'lease expired on node gpu-a (no heartbeat)' });
      expect(['gpu-b', 'gpu-c']).toContain(attempts.at(-1)!.nodeId);
      expect(attempts.at(-1)!.state).toBe('succeeded');
    }
    // The first attempt's log is on the dead node's disk: the API says it cannot reach it (it never reads a local file for it).
    const res = await fetch(`${c.server.url}/v1/jobs/${ids[0]}/logs?attempt=1`, { headers: { authorization: `Bearer ${c.admin}` } });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NODE_UNREACHABLE');
  }, 90_000);

  it('reruns the jobs of an agent paused past its lease; resumed, it kills its stale processes and its late results change nothing', async () => {
    const c = await cluster();
    const a = await c.agent('gpu-a');
    const out = tempDir('gpuq-remote-');
    const [goX, goY] = [path.join(out, 'go-x'), path.join(out, 'go-y')];
    const x = (await c.client.submit({ shell: waitingScript(out, goX), ...retrying })).job.id;
    const y = (await c.client.submit({ shell: waitingScript(out, goY), ...retrying })).job.id;
    await until('both jobs to run on gpu-a', () => [x, y].every((id) => existsSync(path.join(out, `${id}.1`))));
    const [xPid, yPid] = [records(out, x)[0]!.pid, records(out, y)[0]!.pid];
    await c.agent('gpu-b');

    process.kill(a.pid, 'SIGSTOP');
    await until('both jobs to run again on gpu-b', () => [x, y].every((id) => records(out, id).some((r) => r.node === 'gpu-b')), 30_000);
    // X's stale process on the paused node finishes too, successfully: its agent now holds a result of a reclaimed attempt.
    writeFileSync(goX, '');
    await until('the stale process of X to exit', () => !isAlive(xPid), 10_000);
    expect((await waitForJobs(c.client, [x], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');
    const before: Record<number, JobDetail> = { [x]: await c.client.get(x), [y]: await c.client.get(y) };
    const staleAttempts = [before[x]!.attempts[0]!, before[y]!.attempts[0]!];
    expect(staleAttempts.map((s) => [s.nodeId, s.state])).toEqual([['gpu-a', 'lost'], ['gpu-a', 'lost']]);

    process.kill(a.pid, 'SIGCONT');
    // Y's stale process still ran: the resumed agent learns it was reclaimed and kills it.
    await until('the resumed agent to kill Y\'s stale process', () => !isAlive(yPid), 15_000);
    // Both stale ends were dropped, not sent.
    await until('the resumed agent to drop both stale ends', () => {
      const dropped = new Set(logged(a, 'reclaimed attempt ended here: its end is not reported').map((l) => l.attemptId));
      return staleAttempts.every((s) => dropped.has(s.id));
    }, 15_000);
    writeFileSync(goY, '');
    expect((await waitForJobs(c.client, [y], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');

    // Nothing the paused agent held reached the store: X is exactly as it was, Y's lost attempt too.
    expect(await c.client.get(x)).toEqual(before[x]);
    const yAfter = await c.client.get(y);
    expect(yAfter.attempts[0]).toEqual(staleAttempts[1]);
    expect(yAfter.events.slice(0, before[y]!.events.length)).toEqual(before[y]!.events);
    // And the node is back in service.
    await until('gpu-a to be up again', async () => (await c.client.nodes()).nodes.find((n) => n.id === 'gpu-a')?.state === 'up');
  }, 90_000);

  it('moves to another replica when its server dies, registers there again and keeps its running job', async () => {
    const c = await cluster();
    const follower = await c.replica();
    // The agent talks to the follower first; the leader (which schedules) stays up.
    const a = await c.agent('gpu-a', [], [follower.url, c.server.url]);
    const out = tempDir('gpuq-remote-');
    const go = path.join(out, 'go');
    const id = (await c.client.submit({ shell: waitingScript(out, go), ...retrying })).job.id;
    await until('the job to run on gpu-a', () => existsSync(path.join(out, `${id}.1`)));

    await follower.crash();
    servers.splice(servers.indexOf(follower), 1);
    await until('the agent to register with the other server', () => logged(a, 'registered again (the previous session was gone)').length > 0, 15_000);
    writeFileSync(go, '');
    const done = await waitForJobs(c.client, [id], Date.now() + 20_000);
    // The same attempt finished and was reported: nothing was lost or run twice.
    expect(done.jobs.map((j) => [j.state, j.attempts])).toEqual([['succeeded', 1]]);
    // New work reaches it through its new session.
    const next = (await c.client.submit({ shell: 'echo "$GPUQ_NODE"', gpus: 1 })).job.id;
    expect((await waitForJobs(c.client, [next], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');
    expect(await c.client.logs(next)).toBe('gpu-a\n');
  }, 90_000);

  it('kills its jobs once the control plane has been out of reach for longer than its grace period, and keeps running', async () => {
    const c = await cluster();
    const a = await c.agent('gpu-a', ['--grace-seconds', '1']);
    const out = tempDir('gpuq-remote-');
    const id = (await c.client.submit({ shell: waitingScript(out, path.join(out, 'go')), ...retrying })).job.id;
    await until('the job to run on gpu-a', () => existsSync(path.join(out, `${id}.1`)));
    const pid = records(out, id)[0]!.pid;

    await c.server.crash();
    servers.splice(servers.indexOf(c.server), 1);
    await until('the agent to kill its job', () => !isAlive(pid), 15_000);
    expect(logged(a, 'the control plane has been unreachable for longer than the grace period: killing this node\'s jobs (they run elsewhere)')).toHaveLength(1);
    expect(isAlive(a.pid)).toBe(true);
  }, 60_000);
});
