import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { GpuqApiError, GpuqClient } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, runCli, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// Job results ($GPUQ_RESULT_FILE) and artifacts ($GPUQ_ARTIFACTS_DIR) end to end: real jobs write them, and
// they come back through the API and the CLI, from `gpuq up`'s own agent and, proxied, from a remote agent.

async function finish(client: GpuqClient, id: number) {
  const { jobs, timedOut } = await waitForJobs(client, [id], Date.now() + 30_000);
  expect(timedOut).toBe(false);
  return jobs[0]!;
}

/** A job that leaves a result and two artifacts (one in a subdirectory). */
const writer = {
  shell: 'mkdir -p "$GPUQ_ARTIFACTS_DIR/plots" && printf "loss 0.1\\n" > "$GPUQ_ARTIFACTS_DIR/plots/loss.txt" && echo "{\\"var99\\": 12.5, \\"node\\": \\"$GPUQ_NODE\\", \\"n\\": 12345678901234567890}" > "$GPUQ_RESULT_FILE"',
};

describe('results and artifacts on gpuq up', () => {
  let gpuq: GpuqProcess;
  let env: Record<string, string>;
  beforeAll(async () => {
    gpuq = await startGpuq({ args: ['--node-name', 'box-1'] });
    env = { GPUQ_URL: gpuq.url };
  });
  afterAll(async () => {
    await gpuq.stop();
  });

  it('returns the result as the job wrote it and its artifacts, through the API and the CLI', async () => {
    // It writes once told to, so the result is asked for while it surely has none.
    const go = path.join(tempDir(), 'go');
    const { job } = await gpuq.client.submit({ name: 'writer', shell: `while [ ! -f ${go} ]; do sleep 0.02; done; ${writer.shell}` });
    expect(await gpuq.client.result(job.id).catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    writeFileSync(go, '');
    expect((await finish(gpuq.client, job.id)).state).toBe('succeeded');

    const raw = await (await fetch(`${gpuq.url}/v1/jobs/${job.id}/result`)).text();
    // Numbers keep their spelling: the result is the JSON text the job wrote.
    expect(raw).toContain('"result":{"var99": 12.5, "node": "box-1", "n": 12345678901234567890}');
    const r = await gpuq.client.result(job.id);
    expect(r).toMatchObject({ jobId: job.id, attempt: 1, state: 'succeeded', note: null, result: { var99: 12.5 } });
    expect(r.artifacts).toEqual([
      { name: 'plots/loss.txt', bytes: 9 },
      { name: 'result.json', bytes: expect.any(Number) },
    ]);
    expect(await gpuq.client.artifacts(job.id)).toMatchObject({ attempt: 1, artifacts: r.artifacts });

    const cli = await runCli(['result', String(job.id)], env);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ var99: 12.5, node: 'box-1' });
    expect(cli.stdout).toContain('\n  "var99": 12.5');
    expect(cli.stderr).toMatch(/plots\/loss\.txt\s+9/);
    const list = await runCli(['artifacts', String(job.id)], env);
    expect(list.stdout).toMatch(/^NAME\s+BYTES\nplots\/loss\.txt\s+9\nresult\.json\s+\d+\n$/);

    const out = path.join(tempDir('gpuq-dl-'), 'loss.txt');
    expect((await runCli(['artifacts', String(job.id), 'plots/loss.txt', '-o', out], env)).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('loss 0.1\n');
    expect((await runCli(['artifacts', String(job.id), 'plots/loss.txt'], env)).stdout).toBe('loss 0.1\n');
    const res = await fetch(`${gpuq.url}/v1/jobs/${job.id}/artifacts/plots%2Floss.txt`);
    expect(res.headers.get('content-length')).toBe('9');
    expect(res.headers.get('content-disposition')).toContain('filename="loss.txt"');
  });

  it('refuses a name that could leave the artifacts directory (400) and an unknown one (404)', async () => {
    const { job } = await gpuq.client.submit({ name: 'writer', ...writer });
    await finish(gpuq.client, job.id);
    for (const bad of ['..%2F..%2F..%2Fgpuq.db', '%2Fetc%2Fpasswd', 'plots%2F..%2F..%2Fattempt-1.log']) {
      const res = await fetch(`${gpuq.url}/v1/jobs/${job.id}/artifacts/${bad}`);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
    }
    expect(await gpuq.client.artifact(job.id, 'nope.txt').catch((e: unknown) => e)).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const cli = await runCli(['artifacts', String(job.id), 'nope.txt'], env);
    expect(cli.code).toBe(4);
  });

  it('keeps a job that left a result too big or not JSON as it ended, with no result and a note saying why', async () => {
    const { job } = await gpuq.client.submit({ name: 'big', shell: 'head -c 1100000 /dev/zero | tr "\\0" 1 > "$GPUQ_RESULT_FILE"' });
    const done = await finish(gpuq.client, job.id);
    expect(done.state).toBe('succeeded');
    expect(done.reason).toMatch(/result not kept: result\.json is 1\.0 MiB, over the 1\.0 MiB limit/);
    const r = await gpuq.client.result(job.id);
    expect(r).toMatchObject({ result: null, note: expect.stringContaining('over the 1.0 MiB limit'), artifacts: [{ name: 'result.json', bytes: 1_100_000 }] });
    // The file itself is still there to download.
    const file = await gpuq.client.artifact(job.id, 'result.json');
    expect((await file.arrayBuffer()).byteLength).toBe(1_100_000);

    // A failed attempt's result is kept too (diagnostics), and each attempt's can be read.
    const { job: flaky } = await gpuq.client.submit({ shell: 'echo "{\\"attempt\\": $GPUQ_ATTEMPT}" > "$GPUQ_RESULT_FILE"; [ "$GPUQ_ATTEMPT" -ge 2 ]', backoff: { initialSeconds: 0.05, maxSeconds: 0.1 } });
    expect((await finish(gpuq.client, flaky.id)).state).toBe('succeeded');
    expect(await gpuq.client.result(flaky.id)).toMatchObject({ attempt: 2, state: 'succeeded', result: { attempt: 2 } });
    expect(await gpuq.client.result(flaky.id, { attempt: 1 })).toMatchObject({ attempt: 1, state: 'failed', result: { attempt: 1 } });
  });
});

describe('results and artifacts of a remote agent (cluster mode)', () => {
  const schemas = new TestSchemas();
  const servers: GpuqProcess[] = [];
  const agents: AgentProcess[] = [];
  afterEach(async () => {
    for (const a of agents.splice(0)) await a.stop();
    for (const s of servers.splice(0)) await s.stop();
    expect(leakedAgents()).toBe(0);
  });
  afterAll(async () => {
    await schemas.dropAllAndEnd();
  });

  it('proxies an artifact from the agent that ran the job, as logs are; an agent that is gone is NODE_UNREACHABLE', async () => {
    const { url: db } = await schemas.createForServer();
    const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'gpu-hosts')];
    const server = await startGpuq({ args: ['--no-agent', '--database-url', db, '--auth', 'required'] });
    servers.push(server);
    const agent = await startAgent({ server: server.url, token: agentToken, node: 'gpu-r1', args: ['--heartbeat-seconds', '0.3'] });
    agents.push(agent);
    const client = new GpuqClient(server.url, { token: admin });

    const { job } = await client.submit({ name: 'remote-writer', ...writer });
    expect((await finish(client, job.id)).state).toBe('succeeded');
    const r = await client.result(job.id);
    expect(r).toMatchObject({ nodeId: 'gpu-r1', result: { var99: 12.5, node: 'gpu-r1' } });
    const file = await client.artifact(job.id, 'plots/loss.txt');
    expect(await file.text()).toBe('loss 0.1\n');
    expect(file.headers.get('content-length')).toBe('9');
    // The file is on the agent's disk, not the server's.
    expect(readFileSync(path.join(agent.dataDir, 'jobs', String(job.id), 'artifacts-1', 'plots', 'loss.txt'), 'utf8')).toBe('loss 0.1\n');
    const cli = await runCli(['artifacts', String(job.id), 'plots/loss.txt'], { GPUQ_URL: server.url, GPUQ_TOKEN: admin });
    expect(cli.stdout).toBe('loss 0.1\n');
    // A viewer may read results and artifacts, as it may read logs.
    const viewer = new GpuqClient(server.url, { token: await createToken(db, 'viewer', 'eyes') });
    expect((await viewer.result(job.id)).result).toMatchObject({ var99: 12.5 });

    await agent.stop();
    agents.splice(0);
    const gone = await client.artifact(job.id, 'plots/loss.txt').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(GpuqApiError);
    expect(gone).toMatchObject({ status: 502, code: 'NODE_UNREACHABLE', message: expect.stringContaining('artifact "plots/loss.txt"') });
    // The result itself is in the store: still readable.
    expect((await client.result(job.id)).result).toMatchObject({ var99: 12.5 });
  });
});
