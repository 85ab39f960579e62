import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitForJobs } from '../src/cli/commands/wait.js';
import type { FeedEvent } from '../src/core/feed-events.js';
import { GpuqClient } from '../src/sdk/client.js';
import { parseSse } from '../src/sdk/sse.js';
import { leakedServers, runCli, startGpuq, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// The event feed end to end: real servers, real HTTP streams, a client that disconnects in the middle of the
// stream and resumes with Last-Event-ID (on another replica, in cluster mode), and nothing lost or seen twice.
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

async function start(args: string[], fakeGpus?: number): Promise<GpuqProcess> {
  const s = await startGpuq({ args, fakeGpus });
  servers.push(s);
  return s;
}

const jobsOf = (client: GpuqClient, n: number, tag: string) =>
  Promise.all(Array.from({ length: n }, (_, i) => client.submit({ name: `${tag}-${i}`, command: ['sh', '-c', 'sleep 0.2'], gpus: i % 2 }).then((r) => r.job.id)));

/** Reads a raw SSE response (with Last-Event-ID) until `enough` says so; returns the job.state events. */
async function readStream(url: string, lastEventId: number, enough: (events: FeedEvent[]) => boolean): Promise<FeedEvent[]> {
  const stop = new AbortController();
  const res = await fetch(`${url}/v1/events?types=job.state`, { headers: { 'last-event-id': String(lastEventId) }, signal: stop.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: FeedEvent[] = [];
  const decoder = new TextDecoder();
  async function* text() {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
  }
  try {
    for await (const m of parseSse(text())) {
      if (m.data === null) continue;
      expect(m.event).toBe('job.state');
      const e = JSON.parse(m.data) as FeedEvent;
      expect(m.id).toBe(String(e.id));
      events.push(e);
      if (enough(events)) break;
    }
  } finally {
    stop.abort();
  }
  return events;
}

/**
 * Follows with the SDK until `half` job.state events came, disconnects, lets `more` happen while away, resumes
 * with Last-Event-ID on `resumeOn`, and checks that the two parts together are exactly the feed's job.state
 * events after the first one's start: in id order, each once, every transition of every job.
 */
async function disconnectAndResume(followOn: GpuqProcess, resumeOn: GpuqProcess, submitters: GpuqClient[]) {
  const reader = new GpuqClient(followOn.url);
  const { lastEventId: startedAt } = await reader.listEvents({ limit: 1 });
  const stop = new AbortController();
  const firstPart: FeedEvent[] = [];
  const following = (async () => {
    for await (const e of reader.events({ types: ['job'], after: startedAt, signal: stop.signal })) {
      if (e.type === 'resync') throw new Error(`unexpected resync: ${e.reason}`);
      firstPart.push(e);
      if (firstPart.length === 12) stop.abort();
    }
  })();
  const early = (await Promise.all(submitters.map((c, i) => jobsOf(c, 6, `early${i}`)))).flat();
  await following;
  expect(firstPart).toHaveLength(12);
  // Away from the stream: more jobs come and go, on every replica.
  const late = (await Promise.all(submitters.map((c, i) => jobsOf(c, 4, `late${i}`)))).flat();
  const all = [...early, ...late];
  const { jobs, timedOut } = await waitForJobs(submitters[0]!, all, Date.now() + 60_000);
  expect(timedOut).toBe(false);
  expect(jobs.every((j) => j.state === 'succeeded')).toBe(true);

  const expected = (await new GpuqClient(resumeOn.url).listEvents({ types: ['job.state'], after: startedAt, limit: 1000 })).events;
  const lastId = firstPart[firstPart.length - 1]!.id;
  const secondPart = await readStream(resumeOn.url, lastId, (events) => events.length >= expected.filter((e) => e.id > lastId).length);
  const seen = [...firstPart, ...secondPart];
  expect(seen.map((e) => e.id)).toEqual(expected.map((e) => e.id));
  expect(seen).toEqual(expected);
  // Every job's whole life is there, once.
  for (const id of all) {
    const states = seen.flatMap((e) => (e.type === 'job.state' && e.jobId === id ? [e.to] : []));
    expect(states, `job ${id}`).toEqual(['queued', 'assigned', 'running', 'succeeded']);
  }
}

describe('GET /v1/events', () => {
  it('embedded (SQLite): a client that disconnects mid-stream and resumes with Last-Event-ID misses nothing and sees nothing twice', async () => {
    const s = await start([], 2);
    await disconnectAndResume(s, s, [new GpuqClient(s.url)]);
  });

  it('cluster (PostgreSQL): events decided on either replica, followed on one and resumed on the other', async () => {
    const { url: db } = await schemas.createForServer();
    const a = await start(['--database-url', db], 2);
    const b = await start(['--database-url', db, '--no-agent']);
    await disconnectAndResume(b, a, [new GpuqClient(a.url), new GpuqClient(b.url)]);
  });

  it('streams node, maintenance and leader events, filters by job and queue, and answers bad parameters with 400 naming them', async () => {
    const s = await start(['--max-running', '4'], 1);
    const client = new GpuqClient(s.url);
    const history = await client.listEvents({ after: 0, limit: 1000 });
    expect(history.events.map((e) => e.type)).toEqual(expect.arrayContaining(['leader', 'node.state']));
    expect(history.events.find((e) => e.type === 'node.state')).toMatchObject({ state: 'up' });

    const { lastEventId } = await client.listEvents({ limit: 1 });
    const stop = new AbortController();
    const got: FeedEvent[] = [];
    const following = (async () => {
      for await (const e of client.events({ types: ['job.state'], queue: 'watched', after: lastEventId, signal: stop.signal })) {
        if (e.type === 'resync') continue;
        got.push(e);
        if (e.type === 'job.state' && e.to === 'cancelled') stop.abort();
      }
    })();
    const other = await client.submit({ command: ['true'], queue: 'other' });
    const { job } = await client.submit({ command: ['sleep', '30'], queue: 'watched' });
    await client.setMaintenance('drain');
    await client.cancel(job.id);
    await client.setMaintenance('normal');
    await following;
    // Every condition holds for each event: the other queue's job and the maintenance events stay out.
    expect(got.every((e) => e.type === 'job.state' && e.jobId === job.id && e.queue === 'watched')).toBe(true);
    const states = got.flatMap((e) => (e.type === 'job.state' ? [e.to] : []));
    expect(states[0]).toBe('queued');
    expect(states.at(-1)).toBe('cancelled');
    const maintenance = await client.listEvents({ types: ['maintenance'], after: lastEventId });
    expect(maintenance.events.map((e) => e.type === 'maintenance' && e.mode)).toEqual(['drain', 'normal']);
    const otherQueue = await client.listEvents({ types: ['job'], queue: 'other', after: lastEventId });
    expect(otherQueue.events.length).toBeGreaterThan(0);
    expect(otherQueue.events.every((e) => e.type === 'job.state' && e.jobId === other.job.id)).toBe(true);
    const byJob = await client.listEvents({ job: job.id, after: 0 });
    expect(byJob.events.every((e) => e.type === 'job.state' && e.jobId === job.id)).toBe(true);

    const bad = async (query: string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${s.url}/v1/events?${query}`, { headers });
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: { code: string; issues: { path: string }[] } };
      return body.error.issues.map((i) => i.path);
    };
    expect(await bad('types=job.state,bogus')).toEqual(['types']);
    expect(await bad('job=abc')).toEqual(['job']);
    expect(await bad('queue=Bad Queue')).toEqual(['queue']);
    expect(await bad('after=-1')).toEqual(['after']);
    expect(await bad('follow=maybe')).toEqual(['follow']);
    expect(await bad('limit=0&follow=false')).toEqual(['limit']);
    expect(await bad('', { 'last-event-id': 'yesterday' })).toEqual(['Last-Event-ID']);
    expect(await bad('follow=false&after=999999999')).toEqual(['after']);
    expect(await bad('', { 'last-event-id': '999999999' })).toEqual(['Last-Event-ID']);
    // The server is still up and well.
    expect((await client.listEvents({ limit: 1 })).events).toHaveLength(1);
  });

  it('gpuq events prints the feed as lines and as JSON, and refuses an unknown type', async () => {
    const s = await start([], 1);
    const client = new GpuqClient(s.url);
    const { job } = await client.submit({ name: 'printed', command: ['true'] });
    await waitForJobs(client, [job.id], Date.now() + 30_000);
    const listed = await runCli(['events', '--url', s.url, '--type', 'job', '--job', String(job.id)]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`job ${job.id} \\(printed, queue default\\) submitted → queued`));
    expect(listed.stdout).toMatch(new RegExp(`job ${job.id} \\(printed, queue default\\) running → succeeded attempt 1 on \\S+`));
    const json = await runCli(['events', '--url', s.url, '--job', String(job.id), '--json']);
    const page = JSON.parse(json.stdout) as { events: FeedEvent[]; lastEventId: number };
    expect(page.events.map((e) => e.type === 'job.state' && e.to)).toEqual(['queued', 'assigned', 'running', 'succeeded']);
    const badType = await runCli(['events', '--url', s.url, '--type', 'jobs']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/types/);
  });
});
