import { useState } from 'preact/hooks';
import { AUDIT_ACTIONS, type AuditAction, type AuditEntry } from '../../../src/core/access.js';
import type { FeedEvent } from '../../../src/core/feed-events.js';
import { ActionButton, ErrorNote, Pager, Section } from '../components.js';
import { ago, time } from '../format.js';
import { useNow, useRefetchOn, useResource } from '../hooks.js';
import { refusal, useSession } from '../session.js';

interface Leader {
  leader: { replica: string; url: string | null; term: number; since: number; renewedAt: number; expiresAt: number } | null;
  lastTerm: number | null;
  self: { replica: string; leader: boolean };
  replicas: { id: string; url: string | null; startedAt: number; lastSeenAt: number; leader: boolean }[];
}

/** Maintenance mode (drain / normal, confirmed first), who leads the control plane, and the audit log. */
export function MaintenancePage() {
  return (
    <div class="page maintenance">
      <div class="columns">
        <ModePanel />
        <LeaderPanel />
      </div>
      <AuditPanel />
    </div>
  );
}

function ModePanel() {
  const { client, me } = useSession();
  const mode = useResource(() => client.request<{ mode: 'normal' | 'drain' }>('GET', '/v1/control/maintenance'), []);
  useRefetchOn((e) => e.type === 'maintenance', mode.reload, 100);
  const m = mode.data?.mode;
  const why = refusal(me, 'control.maintenance');
  return (
    <Section title="Maintenance mode" testId="maintenance-mode">
      <ErrorNote error={mode.error} what="maintenance mode" />
      {m ? (
        <>
          <p class="mode-line">
            <span class={`badge ${m === 'drain' ? 'draining' : 'state-succeeded'}`} data-testid="mode" data-mode={m}>
              {m}
            </span>{' '}
            {m === 'drain' ? 'New jobs are refused (503) and nothing new starts; running jobs finish.' : 'Jobs are accepted and scheduled.'}
          </p>
          {m === 'normal' ? (
            <ActionButton label="Drain" tone="danger" testId="set-drain" refusal={why} confirm="Enter drain mode? Every server refuses new jobs (503) and starts nothing new until the mode is set back to normal; running jobs finish." run={async () => {
              const r = await client.setMaintenance('drain');
              mode.reload();
              return `Drain mode on; ${r.running} attempt(s) still running`;
            }} />
          ) : (
            <ActionButton label="Resume (normal)" tone="primary" testId="set-normal" refusal={why} confirm="Leave drain mode? Jobs are accepted and scheduled again." run={async () => {
              await client.setMaintenance('normal');
              mode.reload();
              return 'Back to normal: jobs are accepted and scheduled';
            }} />
          )}
        </>
      ) : null}
    </Section>
  );
}

function LeaderPanel() {
  const { client } = useSession();
  const now = useNow(5000);
  const leader = useResource(() => client.request<Leader>('GET', '/v1/status/leader'), []);
  const terms = useResource(() => client.request<{ events: FeedEvent[] }>('GET', '/v1/events?follow=false&types=leader&limit=20'), []);
  useRefetchOn((e) => e.type === 'leader', leader.reload, 100);
  useRefetchOn((e) => e.type === 'leader', terms.reload, 100);
  const l = leader.data;
  return (
    <Section title="Control plane" testId="leader">
      <ErrorNote error={leader.error} what="leader" />
      {l ? (
        <dl class="facts">
          <dt>leader</dt>
          <dd data-testid="leader-replica">{l.leader ? l.leader.replica : 'none (no server holds the lease now)'}</dd>
          {l.leader ? (
            <>
              <dt>term</dt>
              <dd>{l.leader.term}</dd>
              <dt>since</dt>
              <dd>
                {time(l.leader.since)} ({ago(l.leader.since, now)})
              </dd>
              <dt>url</dt>
              <dd>{l.leader.url ?? '—'}</dd>
            </>
          ) : null}
          <dt>this replica</dt>
          <dd data-testid="self-replica">
            {l.self.replica} {l.self.leader ? '(leader)' : '(serves the API; does not schedule)'}
          </dd>
        </dl>
      ) : null}
      {l && l.replicas.length > 0 ? (
        <>
          <h3>Replicas alive</h3>
          <table class="grid-table compact" data-testid="replicas">
            <thead>
              <tr>
                <th>replica</th>
                <th>url</th>
                <th>started</th>
                <th>last seen</th>
                <th>role</th>
              </tr>
            </thead>
            <tbody>
              {l.replicas.map((r) => (
                <tr key={r.id}>
                  <td>{r.id}</td>
                  <td>{r.url ?? '—'}</td>
                  <td>{ago(r.startedAt, now)}</td>
                  <td>{ago(r.lastSeenAt, now)}</td>
                  <td>{r.leader ? 'leader' : 'replica'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
      {terms.data && terms.data.events.length > 0 ? (
        <>
          <h3>Leadership terms (newest last)</h3>
          <table class="grid-table compact" data-testid="terms">
            <tbody>
              {terms.data.events.map((e) =>
                e.type === 'leader' ? (
                  <tr key={e.id}>
                    <td>term {e.term}</td>
                    <td class="mono">{e.holder}</td>
                    <td>{time(e.at)}</td>
                  </tr>
                ) : null,
              )}
            </tbody>
          </table>
        </>
      ) : null}
    </Section>
  );
}

function AuditPanel() {
  const { client, me } = useSession();
  const why = refusal(me, 'audit.read');
  const [action, setAction] = useState<AuditAction | ''>('');
  const [cursors, setCursors] = useState<{ action: string; list: (string | null)[] }>({ action: '', list: [null] });
  const list = cursors.action === action ? cursors.list : [null];
  const page = list.length - 1;
  const cursor = list[page] ?? null;
  const audit = useResource(() => (why ? Promise.resolve(null) : client.audit({ action: action || undefined, limit: 50, cursor: cursor ?? undefined })), [action, cursor, why]);
  // Operator actions announce themselves through their effects' events: read the log again after them.
  // Pool operations are pool.* events (all but a replica's ready); an eviction cancels jobs.
  useRefetchOn((e) => e.type === 'maintenance' || e.type === 'node.admin' || (e.type.startsWith('pool.') && e.type !== 'pool.replica.ready') || (e.type === 'job.state' && (e.to === 'cancelled' || e.from === 'failed')), audit.reload, 1000);
  const entries: AuditEntry[] = audit.data?.entries ?? [];
  return (
    <Section
      title="Audit log"
      testId="audit"
      actions={
        <select value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value as AuditAction | '')} aria-label="action" disabled={why !== null}>
          <option value="">every action</option>
          {AUDIT_ACTIONS.map((a) => (
            <option key={a} value={a}>
              {a}
            </option>
          ))}
        </select>
      }
    >
      {why ? <p class="muted" data-testid="audit-refused">The audit log needs the operator role: {why}.</p> : null}
      <ErrorNote error={audit.error} what="audit log" />
      {!why && audit.data ? (
        <>
          <table class="grid-table" data-testid="audit-table">
            <thead>
              <tr>
                <th>when</th>
                <th>actor</th>
                <th>action</th>
                <th>target</th>
                <th>outcome</th>
                <th>detail</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => (
                <tr key={e.id} data-testid="audit-row" data-action={e.action}>
                  <td>{time(e.at)}</td>
                  <td>
                    {e.actor}
                    {e.role ? <span class="muted"> ({e.role})</span> : null}
                  </td>
                  <td>{e.action}</td>
                  <td>{e.target}</td>
                  <td>
                    <span class={`badge outcome-${e.outcome}`}>{e.outcome}</span>
                  </td>
                  <td class="reason">{e.detail ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {entries.length === 0 ? <p class="muted">No operator action recorded{action ? ` (${action})` : ''}.</p> : null}
          <Pager page={page} shown={entries.length} hasNext={!!audit.data.nextCursor} onPrev={() => setCursors({ action, list: list.slice(0, -1) })} onNext={() => audit.data?.nextCursor && setCursors({ action, list: [...list, audit.data.nextCursor] })} />
        </>
      ) : null}
    </Section>
  );
}
