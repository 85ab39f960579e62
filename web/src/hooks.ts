import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { FeedEvent } from '../../src/core/feed-events.js';
import type { LiveSignal, LiveStatus } from './event-stream.js';
import { useSession } from './session.js';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  /** Reads again (coalesced: a reload asked for while one runs runs once more after it). */
  reload: () => void;
}

/** Data a page reads from the API; kept while it is read again, so the page does not blink. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown }>({ data: undefined, error: undefined });
  const loadRef = useRef(load);
  loadRef.current = load;
  const running = useRef(false);
  const again = useRef(false);
  const generation = useRef(0);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);

  const reload = useCallback(() => {
    if (running.current) {
      again.current = true;
      return;
    }
    running.current = true;
    const gen = generation.current;
    void (async () => {
      do {
        again.current = false;
        try {
          const data = await loadRef.current();
          if (alive.current && gen === generation.current) setState({ data, error: undefined });
        } catch (error) {
          if (alive.current && gen === generation.current) setState((s) => ({ data: s.data, error }));
        }
      } while (again.current && gen === generation.current);
      if (gen === generation.current) running.current = false;
    })();
  }, []);

  // A layout effect: the read starts right after the first render, not after the first paint.
  useLayoutEffect(() => {
    // New deps (another job, other filters): forget what was shown and read afresh.
    generation.current++;
    running.current = false;
    again.current = false;
    setState({ data: undefined, error: undefined });
    reload();
  }, deps);

  return { data: state.data, error: state.error, reload };
}

/**
 * Reads again when the event feed says something it shows changed: at most once per `everyMs` while matching
 * events keep coming (the last one always gets its read), and at once when the stream (re)opens or resyncs.
 */
export function useRefetchOn(matches: (e: FeedEvent) => boolean, reload: () => void, everyMs = 300): void {
  const { live } = useSession();
  const matchRef = useRef(matches);
  matchRef.current = matches;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    let last = 0;
    const fire = () => {
      timer = null;
      last = Date.now();
      reload();
    };
    const off = live.subscribe((s: LiveSignal) => {
      if (s.kind !== 'event') {
        if (timer) clearTimeout(timer);
        fire();
        return;
      }
      if (!matchRef.current(s.event) || timer) return;
      timer = setTimeout(fire, Math.max(0, last + everyMs - Date.now()));
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [live, reload, everyMs]);
}

/** Every live event, as it arrives. */
export function useLiveEvents(handler: (e: FeedEvent) => void): void {
  const { live } = useSession();
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => live.subscribe((s) => s.kind === 'event' && ref.current(s.event)), [live]);
}

export function useLiveStatus(): { status: LiveStatus; problem: string | null } {
  const { live } = useSession();
  const [s, set] = useState({ status: live.status, problem: live.problem });
  useEffect(() => {
    const read = () => set({ status: live.status, problem: live.problem });
    const off = live.onStatus(read);
    read(); // it may have changed between the first render and now
    return off;
  }, [live]);
  return s;
}

/** Calls `fn` every `ms` while the page shows (for what no event announces, like device telemetry). */
export function useInterval(fn: () => void, ms: number): void {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const t = setInterval(() => {
      if (document.visibilityState === 'visible') ref.current();
    }, ms);
    return () => clearInterval(t);
  }, [ms]);
}

/** The current time, moving every `ms` (for "running for 3 min" labels). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useInterval(() => setNow(Date.now()), ms);
  return now;
}
