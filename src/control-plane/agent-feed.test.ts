import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentControl } from '../agent/agent-link.js';
import { parseJobSpec } from '../core/job-spec.js';
import { node } from '../store/contract/fixtures.js';
import { openSqliteStore } from '../store/sqlite/sqlite-store.js';
import type { AssignedAttempt, Store } from '../store/store.js';
import { AgentFeed } from './agent-feed.js';

// A real SQLite store and its events; the agent records what it is handed (what the feed promises is what it hands over, and how often).
const log = pino({ level: 'silent' });
const T = 1_700_000_000_000;
let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-feed-'));
  store = await openSqliteStore({ dataDir: dir });
  await store.upsertNode(node('n1', 2));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function recorder(): AgentControl & { ran: number[]; cancelled: number[] } {
  const ran: number[] = [];
  const cancelled: number[] = [];
  return { nodeId: 'n1', ran, cancelled, run: (a) => ran.push(...a.map((x) => x.attemptId)), cancel: (ids) => cancelled.push(...ids) };
}

async function assignOne(gpu: number): Promise<AssignedAttempt> {
  const [out] = await store.submitJobs([parseJobSpec({ command: ['true'], gpus: 1 })], T);
  const [a] = await store.applyPlan([{ jobId: out!.job.id, nodeId: 'n1', devices: [gpu] }], T, 60_000);
  return a!;
}

const settle = () => new Promise((r) => setImmediate(r));

describe('AgentFeed', () => {
  it('on a server that does not lead: hands over what the store says was assigned, once, however often it is told', async () => {
    const agent = recorder();
    const feed = new AgentFeed(store, agent, () => false, log, 3_600_000);
    await feed.start();
    const a = await assignOne(0);
    await feed.sync();
    await feed.sync();
    expect(agent.ran).toEqual([a.attemptId]);
    feed.stop();
  });

  it('on the leader: takes the direct hand-over, and a later read does not hand it over again', async () => {
    const agent = recorder();
    const feed = new AgentFeed(store, agent, () => true, log, 3_600_000);
    await feed.start();
    const a = await assignOne(0);
    feed.deliver([a]);
    feed.deliver([a]);
    await feed.sync();
    expect(agent.ran).toEqual([a.attemptId]);
    feed.stop();
  });

  it('does not hand an attempt over again when its start is recorded while a read is in flight', async () => {
    const agent = recorder();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gated: Store = { ...store, listAssignedAttempts: async (n) => { const list = await store.listAssignedAttempts(n); await gate; return list; } };
    const feed = new AgentFeed(gated, agent, () => false, log, 3_600_000);
    const a = await assignOne(0);
    feed.deliver([a]);
    const reading = feed.sync(); // lists `a` as still assigned, then waits
    await settle();
    await store.markRunning([{ attemptId: a.attemptId, pid: 1, logPath: null, startedAt: T }], T);
    feed.forget([a.attemptId]);
    release();
    await reading;
    expect(agent.ran).toEqual([a.attemptId]);
  });

  it('passes on cancels decided anywhere, once', async () => {
    const agent = recorder();
    const feed = new AgentFeed(store, agent, () => false, log, 3_600_000);
    await feed.start();
    const a = await assignOne(1);
    await store.cancelJobs({ ids: [a.jobId] }, 'operator said so', T);
    await feed.sync();
    await feed.sync();
    expect(agent.cancelled).toEqual([a.attemptId]);
    feed.stop();
  });
});
