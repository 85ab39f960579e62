import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError, isNotFound } from '../api.js';
import { useSession } from '../session.js';

/** What the view keeps of a log: its last MAX_CHARS (the server caps logs too; a browser tab should not hold more). */
const MAX_CHARS = 2_000_000;
const TAIL_LINES = 2000;

/**
 * An attempt's log (the latest by default), followed live through GET /v1/jobs/:id/logs?follow=true: the
 * server streams what the job writes until its attempt ends. When a retry starts a new attempt, the view
 * follows that one. Unfollowed, it shows the last lines once.
 */
export function LogView(props: { jobId: number; attempts: number[] }) {
  const { client } = useSession();
  const [picked, setPicked] = useState<number | null>(null);
  const [follow, setFollow] = useState(true);
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const pre = useRef<HTMLPreElement>(null);
  const stick = useRef(true);
  const latest = props.attempts.at(-1) ?? null;
  const attempt = picked ?? latest;
  // Following the latest attempt: a new attempt (a retry) starts a new stream. An ended attempt's stream ends at once.
  const live = follow;

  useEffect(() => {
    const abort = new AbortController();
    let acc = '';
    const show = () => setText(acc.length > MAX_CHARS ? acc.slice(-MAX_CHARS) : acc);
    setText('');
    const q = new URLSearchParams({ follow: String(live), tail: String(TAIL_LINES) });
    if (attempt !== null) q.set('attempt', String(attempt));
    setStatus(live ? 'following…' : 'reading…');
    void (async () => {
      try {
        const res = await client.fetchRaw(`/v1/jobs/${props.jobId}/logs?${q}`, abort.signal);
        const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
        let pending: ReturnType<typeof setTimeout> | null = null;
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          acc += value;
          if (acc.length > MAX_CHARS * 2) acc = acc.slice(-MAX_CHARS);
          // Render at most ~20 times a second, however fast the job writes.
          pending ??= setTimeout(() => {
            pending = null;
            show();
          }, 50);
        }
        if (pending) clearTimeout(pending);
        show();
        setStatus(live ? `attempt ${res.headers.get('x-gpuq-attempt') ?? attempt ?? ''} ended: the log is complete` : 'the last lines, read once');
      } catch (e) {
        if (abort.signal.aborted) return;
        setStatus(isNotFound(e) ? 'no log yet: the job has not started' : `log: ${describeError(e)}`);
      }
    })();
    return () => abort.abort();
  }, [props.jobId, attempt, live, picked === null ? latest : -1]);

  useEffect(() => {
    if (stick.current && pre.current) pre.current.scrollTop = pre.current.scrollHeight;
  }, [text]);

  return (
    <div class="log-view">
      <div class="log-controls">
        <label>
          attempt{' '}
          <select value={picked === null ? '' : String(picked)} onChange={(e) => setPicked((e.target as HTMLSelectElement).value === '' ? null : Number((e.target as HTMLSelectElement).value))} data-testid="log-attempt">
            <option value="">latest{latest !== null ? ` (${latest})` : ''}</option>
            {props.attempts.map((n) => (
              <option key={n} value={String(n)}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} data-testid="log-follow" /> follow
        </label>
        <span class="muted" data-testid="log-status">
          {status}
        </span>
      </div>
      <pre
        class="log"
        ref={pre}
        data-testid="log"
        onScroll={(e) => {
          const el = e.currentTarget as HTMLPreElement;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {text}
      </pre>
    </div>
  );
}
