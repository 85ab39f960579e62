import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../src/core/access.js';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';

/**
 * Node lifecycle on a real `gpuq up --fake-gpus 2` (SQLite, auth off): cordon keeps new work off the
 * node with a waiting reason that says so, drain lets the running job finish and reports drained
 * (`gpuq node drain --wait` exits 0), uncordon starts the queued work, and each action is audited.
 */

let gpuq: GpuqProcess | null = null;
afterEach(async () => {
  await gpuq?.stop();
  gpuq = null;
  expect(leakedServers()).toBe(0);
});

describe('node lifecycle: cordon, drain, uncordon', () => {
  it('keeps new work off a cordoned or draining node, lets running work finish, and reports drained', async () => {
    const dir = tempDir('gpuq-node-');
    gpuq = await startGpuq({ fakeGpus: 2 });
    const client = gpuq.client;
    const cli = (...args: string[]) => runCli([...args, '--url', gpuq!.url]);
    const [node] = (await client.nodes()).nodes;
    expect(node).toMatchObject({ adminState: 'active', liveAttempts: 0, drained: null });
    const nodeId = node!.id;

    // Cordon: a new job stays queued and says why; uncordon: it runs.
    const cordoned = await cli('node', 'cordon', nodeId, '--json');
    expect(cordoned.code, cordoned.stderr).toBe(0);
    expect(JSON.parse(cordoned.stdout).node).toMatchObject({ id: nodeId, adminState: 'cordoned' });
    const listed = await cli('nodes');
    expect(listed.stdout).toContain(`${nodeId}  up  cordoned`);
    const held = await client.submit({ type: 'noop', gpus: 1 });
    const waiting = await until('a waiting reason for the queued job', async () => (await client.get(held.job.id)).waiting ?? undefined);
    expect(waiting).toBe(`no node is schedulable (node ${nodeId} is cordoned)`);
    expect((await client.get(held.job.id)).job.state).toBe('queued');
    const uncordoned = await cli('node', 'uncordon', nodeId);
    expect(uncordoned.code, uncordoned.stderr).toBe(0);
    expect(uncordoned.stdout).toContain(`${nodeId}: active`);
    expect((await waitForJobs(client, [held.job.id], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');

    // Drain while a job runs: it finishes, new jobs stay queued, the node reports drained.
    const gate = `touch ${dir}/$GPUQ_JOB_ID.started; while [ ! -f ${dir}/release ]; do sleep 0.02; done`;
    const running = await client.submit({ shell: gate, gpus: 1 });
    await until('the gated job to start', () => existsSync(path.join(dir, `${running.job.id}.started`)));
    const drain = await client.drainNode(nodeId);
    expect(drain.node).toMatchObject({ adminState: 'draining', liveAttempts: 1, drained: false });
    const queued = await client.submit({ shell: `touch ${dir}/$GPUQ_JOB_ID.started`, gpus: 1 });
    expect(await until('the queued job\'s waiting reason', async () => (await client.get(queued.job.id)).waiting ?? undefined)).toBe(
      `no node is schedulable (node ${nodeId} is draining)`,
    );
    const timedOut = await cli('node', 'drain', nodeId, '--wait', '--timeout', '0');
    expect(timedOut.code).toBe(6);
    const waiter = cli('node', 'drain', nodeId, '--wait', '--timeout', '60', '--json');
    writeFileSync(path.join(dir, 'release'), '');
    const waited = await waiter;
    expect(waited.code, waited.stderr).toBe(0);
    expect(JSON.parse(waited.stdout)).toMatchObject({ timedOut: false, node: { id: nodeId, adminState: 'draining', liveAttempts: 0, drained: true } });
    expect((await client.get(running.job.id)).job.state).toBe('succeeded');
    // Drained, with a free GPU and a queued job: still nothing starts (the scheduler keeps running passes).
    expect((await client.get(queued.job.id)).job.state).toBe('queued');
    expect(existsSync(path.join(dir, `${queued.job.id}.started`))).toBe(false);
    expect((await client.nodes()).nodes[0]).toMatchObject({ adminState: 'draining', drained: true });

    await client.uncordonNode(nodeId);
    expect((await waitForJobs(client, [queued.job.id], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');

    // Unknown node: exit 4 (NOT_FOUND).
    const unknown = await cli('node', 'cordon', 'no-such-node');
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('NOT_FOUND');

    // Every action is in the audit log, by `local` (auth off).
    const { entries } = await client.request<{ entries: AuditEntry[] }>('GET', '/v1/audit?limit=100');
    const nodeActions = entries.filter((e) => e.action.startsWith('nodes.')).reverse();
    expect(nodeActions.map((e) => [e.actor, e.action, e.target, e.outcome])).toEqual([
      ['local', 'nodes.cordon', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.uncordon', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.drain', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.drain', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.drain', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.uncordon', `node ${nodeId}`, 'ok'],
      ['local', 'nodes.cordon', 'node no-such-node', 'failed'],
    ]);
  });

  it('keeps a cordon across a restart of gpuq up (the agent re-registers the node)', async () => {
    const dataDir = tempDir();
    gpuq = await startGpuq({ dataDir, fakeGpus: 2 });
    const nodeId = (await gpuq.client.nodes()).nodes[0]!.id;
    await gpuq.client.cordonNode(nodeId);
    await gpuq.stop();
    gpuq = await startGpuq({ dataDir, fakeGpus: 2 });
    expect((await gpuq.client.node(nodeId)).node).toMatchObject({ id: nodeId, adminState: 'cordoned' });
    const job = await gpuq.client.submit({ type: 'noop' });
    expect(await until('a waiting reason', async () => (await gpuq!.client.get(job.job.id)).waiting ?? undefined)).toContain('cordoned');
    await gpuq.client.uncordonNode(nodeId);
    expect((await waitForJobs(gpuq.client, [job.job.id], Date.now() + 20_000)).jobs[0]!.state).toBe('succeeded');
  });
});
