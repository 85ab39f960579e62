/**
 * A risk run across a cluster: a `gpuq up --no-agent` control plane on PostgreSQL with tokens required,
 * and two `gpuq agent` nodes with 2 simulated GPUs each. The run is sharded one per GPU over both nodes,
 * its report comes back through the API, and the reduce job's artifacts are read from its node's agent.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runRiskCpu } from '../src/risk/cpu-engine.js';
import { validatePortfolio } from '../src/risk/portfolio.js';
import { GpuqClient } from '../src/sdk/client.js';
import { startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, runCli, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

const schemas = new TestSchemas();
const agents: AgentProcess[] = [];
let server: GpuqProcess | undefined;
afterAll(async () => {
  for (const a of agents) await a.stop();
  await server?.stop();
  await schemas.dropAllAndEnd();
});

const portfolio = {
  assets: [
    { id: 'X', spot: 80, drift: 0.05, volatility: 0.3, position: 4 },
    { id: 'Y', spot: 120, drift: 0.07, volatility: 0.2, position: 2 },
    { id: 'Z', spot: 30, drift: 0.02, volatility: 0.5, position: -6 },
  ],
  correlation: [
    [1, 0.5, 0.1],
    [0.5, 1, 0.2],
    [0.1, 0.2, 1],
  ],
  horizonDays: 5,
  steps: 5,
  confidenceLevels: [0.99],
  paths: 300_000,
  seed: 99,
};

describe('gpuq risk run on a cluster', () => {
  it('shards one per GPU over both nodes, and the report and artifacts come back through the API', async () => {
    const { url: db } = await schemas.createForServer();
    const [submitter, agentToken] = [await createToken(db, 'submitter', 'risk-desk'), await createToken(db, 'agent', 'gpu-hosts')];
    server = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required'] });
    for (const node of ['gpu-a', 'gpu-b']) agents.push(await startAgent({ server: server.url, token: agentToken, node, fakeGpus: 2 }));
    const dir = tempDir();
    const file = path.join(dir, 'book.json');
    writeFileSync(file, JSON.stringify(portfolio));
    const env = { GPUQ_URL: server.url, GPUQ_TOKEN: submitter };

    const r = await runCli(['risk', 'run', file, '--run-dir', path.join(dir, 'run'), '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { shardJobs: number[]; reduceJob: number; layout: { why: string }; report: { result: Record<string, unknown> } };
    expect(out.layout.why).toBe('4 shards, one GPU each, over 2 nodes');
    const client = new GpuqClient(server.url, { token: submitter });
    const shards = await Promise.all(out.shardJobs.map(async (id) => (await client.get(id)).attempts[0]!));
    expect(new Set(shards.map((a) => a.nodeId))).toEqual(new Set(['gpu-a', 'gpu-b']));
    // No two shards on one GPU of one node.
    expect(new Set(shards.map((a) => `${a.nodeId}:${a.devices.join(',')}`)).size).toBe(4);

    const reference = await runRiskCpu(validatePortfolio(portfolio), { workers: 0 });
    const numbers = (x: Record<string, unknown>) => JSON.stringify({ ...x, engine: undefined, devices: undefined });
    expect(numbers(out.report.result)).toBe(numbers(reference as unknown as Record<string, unknown>));

    // The reduce job's text report, read from the agent that ran it.
    const art = await runCli(['artifacts', String(out.reduceJob), 'report.txt'], env);
    expect(art.code, art.stderr).toBe(0);
    expect(art.stdout).toMatch(/^99%\s+\d+\.\d+/m);
    expect(art.stdout).toMatch(/mean P&L .* ok \(\|z\| ≤ 4\)/);
  }, 120_000);
});
