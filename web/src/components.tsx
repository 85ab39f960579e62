import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { JobState } from '../../src/core/types.js';
import { describeError } from './api.js';
import { href, onLinkClick } from './router.js';

export function Link(props: { to: string; class?: string; children: ComponentChildren; testId?: string; title?: string }) {
  return (
    <a href={href(props.to)} class={props.class} data-testid={props.testId} title={props.title} onClick={(e) => onLinkClick(e, props.to)}>
      {props.children}
    </a>
  );
}

export function StateBadge(props: { state: JobState | string; inDlq?: boolean }) {
  return (
    <span class={`badge state-${props.state}`} data-state={props.state}>
      {props.state}
      {props.inDlq ? ' · DLQ' : ''}
    </span>
  );
}

/** Marks what runs on no hardware (`--fake-gpus`): shown wherever a simulated device is. */
export function Simulated() {
  return (
    <span class="badge simulated" title="a --fake-gpus device: no hardware behind it; its telemetry is simulated">
      SIMULATED
    </span>
  );
}

// ── notices: what an action did, or why it failed ──────────────────────────

type Notice = { id: number; text: string; tone: 'ok' | 'error' };
let notices: Notice[] = [];
let nextNotice = 1;
const noticeListeners = new Set<() => void>();

export function notify(text: string, tone: Notice['tone'] = 'ok'): void {
  const n = { id: nextNotice++, text, tone };
  notices = [...notices, n].slice(-4);
  for (const l of noticeListeners) l();
  setTimeout(() => {
    notices = notices.filter((x) => x.id !== n.id);
    for (const l of noticeListeners) l();
  }, tone === 'error' ? 10_000 : 4000);
}

export function Notices() {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set((x) => x + 1);
    noticeListeners.add(l);
    return () => void noticeListeners.delete(l);
  }, []);
  return (
    <div class="notices" role="status" aria-live="polite">
      {notices.map((n) => (
        <div key={n.id} class={`notice ${n.tone}`} data-testid="notice">
          {n.text}
        </div>
      ))}
    </div>
  );
}

/**
 * A button for an API action. Disabled, with the reason as its title, when the caller's role may not take
 * it (`refusal`); while its request runs it is busy; the outcome is a notice.
 */
export function ActionButton(props: {
  label: string;
  refusal: string | null;
  run: () => Promise<string | void>;
  tone?: 'danger' | 'primary';
  confirm?: string;
  /** More of the confirmation dialog under its question (a field the action reads, like a reason). */
  confirmBody?: ComponentChildren;
  testId?: string;
  disabledReason?: string | null;
}) {
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);
  const why = props.refusal ?? props.disabledReason ?? null;
  const go = async () => {
    setAsking(false);
    setBusy(true);
    try {
      const said = await props.run();
      if (said) notify(said);
    } catch (e) {
      notify(`${props.label}: ${describeError(e)}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button
        type="button"
        class={`btn ${props.tone ?? ''}`}
        disabled={why !== null || busy}
        title={why ?? undefined}
        data-testid={props.testId}
        onClick={() => (props.confirm ? setAsking(true) : void go())}
      >
        {busy ? `${props.label}…` : props.label}
      </button>
      {asking && props.confirm ? (
        <Confirm text={props.confirm} action={props.label} onYes={() => void go()} onNo={() => setAsking(false)}>
          {props.confirmBody}
        </Confirm>
      ) : null}
    </>
  );
}

export function Confirm(props: { text: string; action: string; onYes: () => void; onNo: () => void; children?: ComponentChildren }) {
  const yes = useRef<HTMLButtonElement>(null);
  const box = useRef<HTMLDivElement>(null);
  // The first field of the dialog takes the focus when it has one (a reason to type), else the action.
  useEffect(() => (box.current?.querySelector<HTMLElement>('input, textarea, select') ?? yes.current)?.focus(), []);
  useEffect(() => {
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && props.onNo();
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, [props.onNo]);
  return (
    <div class="modal-backdrop" onClick={props.onNo}>
      <div class="modal" role="dialog" aria-modal="true" data-testid="confirm" ref={box} onClick={(e) => e.stopPropagation()}>
        <p>{props.text}</p>
        {props.children}
        <div class="modal-actions">
          <button type="button" class="btn" onClick={props.onNo}>
            Keep as is
          </button>
          <button type="button" class="btn danger" ref={yes} data-testid="confirm-yes" onClick={props.onYes}>
            {props.action}
          </button>
        </div>
      </div>
    </div>
  );
}

export function ErrorNote(props: { error: unknown; what?: string }) {
  if (props.error === undefined || props.error === null) return null;
  return (
    <p class="error-note" role="alert">
      {props.what ? `${props.what}: ` : ''}
      {describeError(props.error)}
    </p>
  );
}

/** Cursor pagination: the server's nextCursor goes forward; the cursors already used go back. */
export function Pager(props: { page: number; hasNext: boolean; onPrev: () => void; onNext: () => void; shown: number; testId?: string }) {
  return (
    <div class="pager" data-testid={props.testId}>
      <button type="button" class="btn" disabled={props.page === 0} onClick={props.onPrev}>
        ← Previous
      </button>
      <span>
        page {props.page + 1} · {props.shown} shown
      </span>
      <button type="button" class="btn" disabled={!props.hasNext} onClick={props.onNext} data-testid="next-page">
        Next →
      </button>
    </div>
  );
}

export function Section(props: { title: string; children: ComponentChildren; actions?: ComponentChildren; testId?: string }) {
  return (
    <section class="panel" data-testid={props.testId}>
      <header class="panel-head">
        <h2>{props.title}</h2>
        {props.actions ? <div class="panel-actions">{props.actions}</div> : null}
      </header>
      {props.children}
    </section>
  );
}
