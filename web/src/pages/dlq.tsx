import { useState } from 'preact/hooks';
import type { Job } from '../../../src/core/types.js';
import { ActionButton, ErrorNote, Link, Pager, Section } from '../components.js';
import { ago, count } from '../format.js';
import { useRefetchOn, useResource } from '../hooks.js';
import { navigate, useLocation } from '../router.js';
import { refusal, useSession } from '../session.js';

const PAGE_SIZE = 50;

/**
 * The dead-letter queue: failed jobs that used their attempts, with their last error. Replay (a fresh attempt
 * budget) or purge one, a selection, or all of a queue. Read again when a job enters or leaves it.
 */
export function DlqPage() {
  const { client, me } = useSession();
  const { query } = useLocation();
  const queue = query.get('queue') ?? '';
  const [pages, setPages] = useState<{ queue: string; cursors: (string | null)[] }>({ queue, cursors: [null] });
  const cursors = pages.queue === queue ? pages.cursors : [null];
  const page = cursors.length - 1;
  const cursor = cursors[page] ?? null;
  const list = useResource(() => client.dlq({ queue: queue || undefined, limit: PAGE_SIZE, cursor: cursor ?? undefined }), [queue, cursor]);
  useRefetchOn((e) => e.type === 'job.state' && (e.inDlq || e.from === 'failed' || e.to === 'failed'), list.reload, 300);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const rows = list.data?.jobs;
  const chosen = rows ? rows.filter((j) => selected.has(j.id)).map((j) => j.id) : [];
  const replayRefusal = refusal(me, 'dlq.replay');
  const purgeRefusal = refusal(me, 'dlq.purge');
  const none = chosen.length === 0 ? 'select jobs first' : null;
  const after = () => {
    setSelected(new Set());
    list.reload();
  };
  const all = queue ? { all: true as const, queue } : { all: true as const };

  return (
    <div class="page dlq">
      <Section
        title="Dead-letter queue"
        testId="dlq"
        actions={
          <>
            <input
              type="text"
              placeholder="queue"
              aria-label="queue"
              value={queue}
              data-testid="dlq-queue"
              onChange={(e) => navigate(`/dlq${(e.target as HTMLInputElement).value ? `?queue=${encodeURIComponent((e.target as HTMLInputElement).value.trim())}` : ''}`, true)}
            />
            <ActionButton label={`Replay selected (${chosen.length})`} testId="replay-selected" refusal={replayRefusal} disabledReason={none} run={async () => {
              const r = await client.replay({ ids: chosen });
              after();
              return `Replayed ${r.replayed} job(s)${r.failedAgain.length > 0 ? `; ${r.failedAgain.length} failed again at once (a dependency is still failed)` : ''}`;
            }} />
            <ActionButton label={`Purge selected (${chosen.length})`} tone="danger" testId="purge-selected" refusal={purgeRefusal} disabledReason={none} confirm={`Remove ${chosen.length} job(s) from the DLQ? They stay failed until retention purges them; they can no longer be replayed.`} run={async () => {
              const r = await client.purgeDlq({ ids: chosen });
              after();
              return `Removed ${r.purged} job(s) from the DLQ`;
            }} />
            <ActionButton label={queue ? `Replay all of ${queue}` : 'Replay all'} testId="replay-all" refusal={replayRefusal} disabledReason={rows?.length === 0 ? 'the DLQ is empty' : null} confirm={`Replay every job in the DLQ${queue ? ` of queue ${queue}` : ''}?`} run={async () => {
              const r = await client.replay(all);
              after();
              return `Replayed ${r.replayed} job(s)`;
            }} />
            <ActionButton label={queue ? `Purge all of ${queue}` : 'Purge all'} tone="danger" testId="purge-all" refusal={purgeRefusal} disabledReason={rows?.length === 0 ? 'the DLQ is empty' : null} confirm={`Remove every job from the DLQ${queue ? ` of queue ${queue}` : ''}? They can no longer be replayed.`} run={async () => {
              const r = await client.purgeDlq(all);
              after();
              return `Removed ${r.purged} job(s) from the DLQ`;
            }} />
          </>
        }
      >
        <ErrorNote error={list.error} what="DLQ" />
        {!rows ? <p class="muted">Loading…</p> : rows.length === 0 ? <p class="muted" data-testid="dlq-empty">The DLQ is empty{queue ? ` for queue ${queue}` : ''}.</p> : <DlqTable rows={rows} selected={selected} setSelected={setSelected} onReplayed={list.reload} />}
        <Pager page={page} shown={rows?.length ?? 0} hasNext={!!list.data?.nextCursor} onPrev={() => setPages({ queue, cursors: cursors.slice(0, -1) })} onNext={() => list.data?.nextCursor && setPages({ queue, cursors: [...cursors, list.data.nextCursor] })} />
      </Section>
    </div>
  );
}

function DlqTable(props: { rows: Job[]; selected: Set<number>; setSelected: (s: Set<number>) => void; onReplayed: () => void }) {
  const { client, me } = useSession();
  const { rows, selected, setSelected } = props;
  const allOn = rows.every((j) => selected.has(j.id));
  const flip = (id: number) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  return (
    <table class="grid-table" data-testid="dlq-table">
      <thead>
        <tr>
          <th>
            <input type="checkbox" aria-label="select all" checked={allOn} onChange={() => setSelected(allOn ? new Set() : new Set(rows.map((j) => j.id)))} />
          </th>
          <th>id</th>
          <th>name</th>
          <th>queue</th>
          <th class="num">attempts</th>
          <th>failed</th>
          <th>last error</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {rows.map((j) => (
          <tr key={j.id} data-testid="dlq-row" data-job-id={j.id}>
            <td>
              <input type="checkbox" aria-label={`select job ${j.id}`} checked={selected.has(j.id)} onChange={() => flip(j.id)} data-testid="dlq-select" />
            </td>
            <td class="num">
              <Link to={`/jobs/${j.id}`}>{j.id}</Link>
            </td>
            <td class="name">
              <Link to={`/jobs/${j.id}`}>{j.name}</Link>
            </td>
            <td>{j.queue}</td>
            <td class="num">{count(j.attempts)}</td>
            <td>{ago(j.finishedAt)}</td>
            <td class="reason" data-testid="dlq-reason">
              {j.reason ?? ''}
            </td>
            <td>
              <ActionButton label="Replay" testId="dlq-replay" refusal={refusal(me, 'dlq.replay')} run={async () => {
                const r = await client.replay({ ids: [j.id] });
                props.onReplayed();
                return r.failedAgain.length > 0 ? `Job ${j.id} failed again at once: a dependency is still failed` : `Replayed job ${j.id}`;
              }} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
