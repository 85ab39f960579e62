import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../core/job-spec.js';
import { parseSse, type SseMessage } from '../../sdk/sse.js';
import { startTestServer, type TestServer } from '../test-server.js';

/**
 * The event feed's resync, on a real server over a real SQLite store: retention removes events a reader had
 * not seen, and the reader is told so, in the JSON form and in the stream.
 */

let server: TestServer;
let url: string;

beforeEach(async () => {
  server = await startTestServer({ prefix: 'gpuq-events-' });
  url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  const now = server.clock.now();
  await server.store.submitJobs([0, 1, 2].map((i) => parseJobSpec({ type: 'noop', name: `old-${i}` })), now - 3 * 86_400_000);
  await server.store.submitJobs([parseJobSpec({ type: 'noop', name: 'new' })], now);
});
afterEach(() => server.close());

/** The first `n` messages of the stream (with these headers), then disconnects. */
async function firstMessages(path: string, headers: Record<string, string>, n: number, whileOpen?: () => Promise<void>): Promise<SseMessage[]> {
  const stop = new AbortController();
  const res = await fetch(url + path, { headers, signal: stop.signal });
  expect(res.status).toBe(200);
  const decoder = new TextDecoder();
  async function* text() {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
  }
  const out: SseMessage[] = [];
  try {
    for await (const m of parseSse(text())) {
      out.push(m);
      if (out.length === n) {
        await whileOpen?.();
        break;
      }
    }
  } finally {
    stop.abort();
  }
  return out;
}

describe('GET /v1/events after retention', () => {
  it('answers an id older than what is kept with a resync and the events from the oldest kept one', async () => {
    const all = (await server.app.inject({ url: '/v1/events?follow=false&after=0&types=job' })).json<{ events: { id: number; name: string }[] }>().events;
    expect(all.map((e) => e.name)).toEqual(['old-0', 'old-1', 'old-2', 'new']);
    const purged = await server.store.purgeFeed(server.clock.now() - 86_400_000);
    expect(purged).toBeGreaterThanOrEqual(3);
    const kept = (await server.app.inject({ url: '/v1/events?follow=false&after=0' })).json<{ events: { id: number }[] }>().events;
    const oldestKept = kept[0]!.id;

    const page = (await server.app.inject({ url: `/v1/events?follow=false&after=${all[0]!.id}&types=job` })).json();
    expect(page.resync).toMatchObject({ oldestId: oldestKept });
    expect(page.resync.reason).toMatch(/removed by retention/);
    expect(page.events.map((e: { name: string }) => e.name)).toEqual(['new']);

    const stream = await firstMessages('/v1/events?types=job.state', { 'last-event-id': String(all[0]!.id) }, 3);
    expect(stream[0]).toEqual({ id: String(oldestKept - 1), event: 'message', data: null });
    expect(stream[1]!.event).toBe('resync');
    expect(JSON.parse(stream[1]!.data!)).toMatchObject({ oldestId: oldestKept });
    expect(stream[2]).toMatchObject({ event: 'job.state', id: String(all[3]!.id) });
    expect(JSON.parse(stream[2]!.data!)).toMatchObject({ name: 'new', to: 'queued' });
  });

  it('resumes without a resync from an id retention has not reached', async () => {
    const all = (await server.app.inject({ url: '/v1/events?follow=false&after=0&types=job' })).json<{ events: { id: number }[] }>().events;
    const streams = async () => Number(/^gpuq_event_streams (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    const stream = await firstMessages('/v1/events?types=job', { 'last-event-id': String(all[2]!.id) }, 2, async () => expect(await streams()).toBe(1));
    expect(stream[0]).toEqual({ id: String(all[2]!.id), event: 'message', data: null });
    expect(stream[1]).toMatchObject({ event: 'job.state', id: String(all[3]!.id) });
    // The server notices the client left.
    for (let i = 0; (await streams()) !== 0; i++) {
      expect(i, 'streams still counted open').toBeLessThan(100);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
