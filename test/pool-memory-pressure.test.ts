import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { GpuqClient, type PoolView } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, leakedServers, startGpuq, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { markedProcesses, metricValue, MODEL_WORKER } from './helpers/pools.js';
import { TestSchemas } from './helpers/postgres.js';

// Eviction of pool replicas under host memory pressure, in cluster mode: a `gpuq up --no-agent` server on
// PostgreSQL and a `gpuq agent` process (4 simulated GPUs) that reports its host's real memory with its
// heartbeats over HTTP. The threshold is 100 %: available memory is always under the total, so the node is
// under pressure from its first report and every replica on it is evicted, one at a time, in eviction order.
const schemas = new TestSchemas();
let server: GpuqProcess | undefined;
let agent: AgentProcess | undefined;
afterEach(async () => {
  await agent?.stop();
  await server?.stop();
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

describe('pool replicas under host memory pressure', () => {
  it('are evicted one at a time, lowest priority and largest pool first, each once the last one ended; reported and counted', async () => {
    const { url: db } = await schemas.createForServer();
    const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
    server = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required', '--memory-pressure-pct', '100'] });
    agent = await startAgent({ server: server.url, token: agentToken, node: 'mem-a', fakeGpus: 4, args: ['--heartbeat-seconds', '0.3'] });
    const client = new GpuqClient(server.url, { token: admin });

    // The node reports its host memory, shown in the API and the metrics.
    const reported = await until('the node\'s host memory', async () => (await client.nodes()).nodes.find((n) => n.id === 'mem-a' && n.hostMemory !== null));
    expect(reported.hostMemory!.totalMb).toBeGreaterThan(0);
    expect(reported.hostMemory!.availableMb).toBeLessThanOrEqual(reported.hostMemory!.totalMb);
    const metricsOf = async () => (await fetch(`${server!.url}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text();
    const gauge = metricValue(await metricsOf(), 'gpuq_node_memory_total_bytes', { node: 'mem-a' });
    expect(gauge).toBe(reported.hostMemory!.totalMb * 1048576);

    // All four replicas are placed together (the node is cordoned until every pool wants its replicas), so the
    // order of the evictions is the pools' eviction order, not the order they were placed in. A long restart
    // backoff keeps an evicted pool from starting a new replica during the test.
    await client.cordonNode('mem-a');
    const common = { command: [process.execPath, MODEL_WORKER], gpus: 1, graceSeconds: 1, backoff: { initialSeconds: 600, maxSeconds: 600 } };
    await client.createPool({ ...common, name: 'big', minReplicas: 2, maxReplicas: 2, memoryMb: 64 });
    await client.createPool({ ...common, name: 'small', minReplicas: 1, maxReplicas: 1 });
    await client.createPool({ ...common, name: 'precious', minReplicas: 1, maxReplicas: 1, memoryPolicy: { evictionPriority: 5 } });
    await until('four pending replicas', async () => (await client.listPools()).pools.flatMap((p) => p.replicas).filter((r) => r.state === 'pending').length === 4);
    await client.uncordonNode('mem-a');

    const evicted = await until('every replica evicted', async () => {
      const replicas = (await client.listPools()).pools.flatMap((p) => p.replicas);
      return replicas.length === 4 && replicas.every((r) => r.state === 'ended') ? replicas : undefined;
    }, 60_000, 100);
    const inOrder = [...evicted].sort((a, b) => a.endedAt! - b.endedAt!);
    expect(inOrder.map((r) => r.pool)).toEqual(['big', 'big', 'small', 'precious']);
    for (const r of inOrder) {
      expect(r.endReason).toBe('memory-pressure');
      expect(r.endDetail).toMatch(/^host memory pressure on node mem-a: \d+ MiB of \d+ MiB available, under 100 %$/);
    }
    // One at a time: each eviction came after the processes of the one before had ended.
    const processesEnded = async (r: PoolView['replicas'][number]) => (await client.get(r.jobId)).attempts.at(-1)!.endedAt!;
    for (let i = 1; i < inOrder.length; i++) expect(inOrder[i]!.endedAt!).toBeGreaterThan(await processesEnded(inOrder[i - 1]!));
    await until('the evicted replicas\' processes to end', () => markedProcesses(inOrder.map((r) => r.jobId)).length === 0, 30_000, 100);

    // Ends are counted by the controller's pass after the one that evicted: wait for the last one's.
    const metrics = await until('the last eviction counted', async () => {
      const text = await metricsOf();
      return metricValue(text, 'gpuq_pool_evictions_total', { pool: 'precious', reason: 'memory-pressure' }) > 0 ? text : undefined;
    });
    expect(metricValue(metrics, 'gpuq_pool_evictions_total', { pool: 'big', reason: 'memory-pressure' })).toBe(2);
    expect(metricValue(metrics, 'gpuq_pool_evictions_total', { pool: 'small', reason: 'memory-pressure' })).toBe(1);
    expect(metricValue(metrics, 'gpuq_pool_evictions_total', { pool: 'precious', reason: 'memory-pressure' })).toBe(1);
    expect(metricValue(metrics, 'gpuq_pool_replica_ends_total', { pool: 'big', reason: 'memory-pressure' })).toBe(2);
    // The evicted pools back off before starting another replica: nothing was started again.
    expect((await client.listPools()).pools.flatMap((p) => p.replicas)).toHaveLength(4);
  }, 120_000);
});
