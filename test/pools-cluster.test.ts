import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GpuqClient, type PoolTask, type PoolView } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, leakedServers, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { markedProcesses, MODEL_WORKER } from './helpers/pools.js';
import { TestSchemas } from './helpers/postgres.js';

// Warm worker pools in cluster mode, with real processes: two `gpuq up --no-agent` servers on one PostgreSQL
// schema (one leads), and `gpuq agent` processes, each a node with 2 simulated GPUs. Each replica takes both
// GPUs of a node, so two replicas run on two agents. Leases are 2 s so a lost agent shows within seconds.
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

async function cluster() {
  const { url: db } = await schemas.createForServer();
  const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
  for (let i = 0; i < 2; i++) servers.push(await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required', '--lease-seconds', '2'] }));
  const urls = servers.map((s) => s.url);
  for (const node of ['gpu-a', 'gpu-b', 'gpu-c']) agents.push(await startAgent({ server: urls, token: agentToken, node, args: ['--heartbeat-seconds', '0.3'] }));
  const clientOf = (s: GpuqProcess) => new GpuqClient(s.url, { token: admin });
  const leader = async () => {
    for (const s of servers) {
      const status = (await (await fetch(`${s.url}/v1/status/leader`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { self: { leader: boolean } };
      if (status.self.leader) return s;
    }
    return undefined;
  };
  return { clientOf, leader };
}

const tasksOf = async (client: GpuqClient, pool: string): Promise<PoolTask[]> => {
  const out: PoolTask[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTasks(pool, { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.tasks);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out.sort((a, b) => a.id - b.id);
};

/** Two ready replicas on two nodes, each holding tasks. */
const busyReplicas = async (client: GpuqClient, pool: string) =>
  until('two ready replicas on two nodes holding tasks', async () => {
    const view: PoolView = (await client.getPool(pool)).pool;
    const running = (await tasksOf(client, pool)).filter((t) => t.state === 'running');
    const ready = view.replicas.filter((r) => r.state === 'ready');
    return ready.length === 2 && new Set(ready.map((r) => r.nodeId)).size === 2 && ready.every((r) => running.some((t) => t.replicaJobId === r.jobId)) ? ready : undefined;
  }, 60_000, 100);

/** Every task answered once, correctly; each lost delivery recorded as an attempt. */
const expectAnsweredOnce = (tasks: PoolTask[], xs: number[]) => {
  expect(tasks.map((t) => t.state)).toEqual(xs.map(() => 'succeeded'));
  expect(tasks.map((t) => (t.result as { y: number }).y)).toEqual(xs.map((x) => x * x));
  for (const t of tasks) expect(t.attempts).toBe(t.history.length + 1);
};

// A server killed while it answers an exchange has claimed tasks the replica never got: the host asks the other server
// again, listing what it holds, and is handed them back (store claimTasks). The default task timeout (300 s) is kept, so
// a task that waited for it instead would fail the 90 s wait for every task to end.
const pool = { command: [process.execPath, MODEL_WORKER], gpus: 2, minReplicas: 2, maxReplicas: 2, concurrency: 4, maxAttempts: 10, backoff: { initialSeconds: 0.1, maxSeconds: 0.5 } };
/** Slow enough that every replica holds tasks when something is killed. */
const slowSquares = (xs: number[]) => xs.map((x) => ({ payload: { op: 'slow-square', x, ms: 150 } }));

describe('pools in a cluster on PostgreSQL', () => {
  it('kill -9 of an agent running a replica: its tasks are redelivered, every task is answered once', async () => {
    const c = await cluster();
    const client = c.clientOf(servers[1]!);
    await client.createPool({ name: 'cl', ...pool });
    const xs = Array.from({ length: 120 }, (_, i) => i);
    await client.submitTasks('cl', slowSquares(xs));
    const [victim] = await busyReplicas(client, 'cl');
    const agent = agents.find((a) => a.node === victim!.nodeId)!;
    await agent.crash();
    agents.splice(agents.indexOf(agent), 1);

    const tasks = await until('every task to end', async () => {
      const ts = await tasksOf(client, 'cl');
      return ts.length === xs.length && ts.every((t) => t.state === 'succeeded' || t.state === 'failed') ? ts : undefined;
    }, 90_000, 200);
    expectAnsweredOnce(tasks, xs);
    const lost = tasks.filter((t) => t.history.some((h) => h.replicaJobId === victim!.jobId));
    expect(lost.length).toBeGreaterThan(0);
    const view = (await client.getPool('cl')).pool;
    expect(view.replicas.find((r) => r.jobId === victim!.jobId)).toMatchObject({ state: 'ended', endReason: 'lost' });
    // The orphaned replica (its agent died, not it) was refused by the control plane and stopped: nothing of it runs.
    await until('the orphaned replica processes to end', () => markedProcesses([victim!.jobId]).length === 0, 30_000, 100);
    // A replacement runs on the third node.
    await until('a replacement replica to be ready', async () => (await client.getPool('cl')).pool.replicas.filter((r) => r.state === 'ready').length === 2, 30_000, 100);
  }, 180_000);

  it('kill -9 of the leader: the new leader rehydrates the pool, every task is answered once', async () => {
    const c = await cluster();
    const first = (await c.leader())!;
    const survivor = servers.find((s) => s !== first)!;
    const client = c.clientOf(survivor);
    await client.createPool({ name: 'cl', ...pool });
    const xs = Array.from({ length: 120 }, (_, i) => i);
    await client.submitTasks('cl', slowSquares(xs));
    const replicas = await busyReplicas(client, 'cl');

    await first.crash();
    servers.splice(servers.indexOf(first), 1);
    await until('the survivor to lead', async () => (await c.leader()) === survivor, 20_000, 100);
    const tasks = await until('every task to end', async () => {
      const ts = await tasksOf(client, 'cl');
      return ts.length === xs.length && ts.every((t) => t.state === 'succeeded' || t.state === 'failed') ? ts : undefined;
    }, 90_000, 200);
    expectAnsweredOnce(tasks, xs);

    // The new leader runs the pool from the store: it scales it (a task after the idle timeout would start one; here
    // the minimum is kept) and new work is delivered.
    const after = (await client.getPool('cl')).pool;
    expect(after.spec).toMatchObject({ minReplicas: 2, maxReplicas: 2, gpus: 2 });
    expect(after.replicas.filter((r) => r.state === 'ready')).toHaveLength(2);
    const more = await client.submitTasks('cl', slowSquares([1000, 1001]), { wait: 60 });
    expect(more.tasks.map((t) => (t.result as { y: number }).y)).toEqual([1_000_000, 1_002_001]);
    // The replicas survived the leader: the agents and their hosts followed the other server.
    expect(after.replicas.filter((r) => r.state === 'ready').map((r) => r.jobId).sort()).toEqual(replicas.map((r) => r.jobId).sort());
    // The new leader's controller keeps the pool: a replica whose worker is killed now is replaced by it.
    const worker = markedProcesses([replicas[0]!.jobId]).find((p) => p.worker)!;
    process.kill(worker.pid, 'SIGKILL');
    const replaced = await until('a replacement replica started by the new leader', async () => {
      const ready = (await client.getPool('cl')).pool.replicas.filter((r) => r.state === 'ready');
      return ready.length === 2 && !ready.some((r) => r.jobId === replicas[0]!.jobId) ? ready : undefined;
    }, 30_000, 100);
    expect(replaced.map((r) => r.jobId)).toContain(replicas[1]!.jobId);
  }, 180_000);
});
