import { useEffect, useRef, useState } from 'preact/hooks';
import type { FeedEvent } from '../../../src/core/feed-events.js';
import { useLiveEvents, useResource } from '../hooks.js';
import { useSession } from '../session.js';

/**
 * Queue depth and jobs finished per minute over the last WINDOW_MS, from the event feed, with no query of
 * their own.
 *
 * When the page opens it reads the newest BACKLOG job.state events (GET /v1/events?follow=false). Finished
 * jobs are counted per minute from those and from every live event after them (by id, so none counts twice).
 * The queue depth is walked back from the count of queued jobs the page shows: before each event that
 * entered `queued` there was one fewer, before each that left it one more. Live events then move it, and each
 * count the page reads again (as job events arrive) sets it anew. A busy cluster's backlog covers less than
 * the window: the series then start at its oldest event (`from`).
 */

export const WINDOW_MS = 60 * 60_000;
export const BUCKET_MS = 60_000;
const BACKLOG = 1000;

export interface ActivitySeries {
  /** Where the series start: the window's start, or the oldest event read. */
  from: number;
  to: number;
  /** [time, jobs queued], a step at each change. */
  queued: [number, number][];
  /** [minute, jobs that ended so in that minute]. */
  succeeded: [number, number][];
  failed: [number, number][];
}

type JobStateEvent = Extract<FeedEvent, { type: 'job.state' }>;

/** Changes less than this apart are one point of the depth series: a flood of submissions stays a few thousand points an hour. */
const COALESCE_MS = 1000;

function pushPoint(series: [number, number][], at: number, value: number): void {
  const last = series[series.length - 1];
  if (last && at - last[0] < COALESCE_MS && series.length > 1) last[1] = value;
  else series.push([at, value]);
}

const queuedDelta = (e: JobStateEvent) => (e.to === 'queued' ? 1 : 0) - (e.from === 'queued' ? 1 : 0);

export function useActivity(queuedNow: number | undefined): ActivitySeries | null {
  const { client } = useSession();
  const backlog = useResource(() => client.request<{ events: FeedEvent[]; lastEventId: number }>('GET', `/v1/events?follow=false&types=job.state&limit=${BACKLOG}`), []);
  const [, redraw] = useState(0);
  const [now, setNow] = useState(Date.now());
  const s = useRef<{ from: number; lastId: number; depth: [number, number][]; finished: { succeeded: Map<number, number>; failed: Map<number, number> } } | null>(null);
  const early = useRef<JobStateEvent[]>([]);

  const count = (e: JobStateEvent) => {
    if (!s.current || e.id <= s.current.lastId) return;
    s.current.lastId = e.id;
    if ((e.to === 'succeeded' || e.to === 'failed') && e.from !== e.to) {
      const m = s.current.finished[e.to];
      const b = Math.floor(e.at / BUCKET_MS) * BUCKET_MS;
      m.set(b, (m.get(b) ?? 0) + 1);
    }
  };

  // Built once both the backlog and a count are known.
  useEffect(() => {
    if (s.current || !backlog.data || queuedNow === undefined) return;
    const start = Date.now() - WINDOW_MS;
    const events = backlog.data.events.filter((e): e is JobStateEvent => e.type === 'job.state' && e.at >= start);
    const depth: [number, number][] = [[Date.now(), queuedNow]];
    let q = queuedNow;
    for (let i = events.length - 1; i >= 0; i--) {
      q = Math.max(0, q - queuedDelta(events[i]!));
      depth.unshift([events[i]!.at, q]);
    }
    const from = backlog.data.events.length === BACKLOG && events.length > 0 ? events[0]!.at : start;
    depth.unshift([from, q]);
    s.current = { from, lastId: 0, depth, finished: { succeeded: new Map(), failed: new Map() } };
    for (const e of events) count(e);
    s.current.lastId = Math.max(s.current.lastId, backlog.data.lastEventId);
    for (const e of early.current) count(e);
    early.current = [];
    redraw((v) => v + 1);
  }, [backlog.data, queuedNow]);

  useLiveEvents((e) => {
    if (e.type !== 'job.state') return;
    if (!s.current) {
      early.current.push(e);
      return;
    }
    if (e.id <= s.current.lastId) return;
    count(e);
    const d = queuedDelta(e);
    if (d !== 0) pushPoint(s.current.depth, e.at, Math.max(0, s.current.depth[s.current.depth.length - 1]![1] + d));
    redraw((v) => v + 1);
  });

  // Each count read again sets the depth (it differs from the walk only when the count and events were read apart).
  useEffect(() => {
    if (!s.current || queuedNow === undefined) return;
    if (s.current.depth[s.current.depth.length - 1]![1] !== queuedNow) pushPoint(s.current.depth, Date.now(), queuedNow);
    redraw((v) => v + 1);
  }, [queuedNow]);

  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10_000);
    return () => clearInterval(t);
  }, []);

  const a = s.current;
  if (!a) return null;
  const to = Math.max(now, Date.now());
  const from = Math.max(a.from, to - WINDOW_MS);
  while (a.depth.length > 2 && a.depth[1]![0] < from) a.depth.shift();
  const perMinute = (m: Map<number, number>): [number, number][] => {
    const out: [number, number][] = [];
    // Whole minutes only: the minute the series start in was seen in part.
    for (let b = Math.ceil(from / BUCKET_MS) * BUCKET_MS; b <= to; b += BUCKET_MS) out.push([b, m.get(b) ?? 0]);
    return out;
  };
  return { from, to, queued: [...a.depth, [to, a.depth[a.depth.length - 1]![1]]], succeeded: perMinute(a.finished.succeeded), failed: perMinute(a.finished.failed) };
}
