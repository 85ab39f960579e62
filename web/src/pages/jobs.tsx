import { useEffect, useRef, useState } from 'preact/hooks';
import type { FeedEvent } from '../../../src/core/feed-events.js';
import { JOB_SORTS, type JobSort } from '../../../src/core/job-sort.js';
import { JOB_STATES, type Job } from '../../../src/core/types.js';
import { ErrorNote, Link, Pager, Section, StateBadge } from '../components.js';
import { ago } from '../format.js';
import { useLiveEvents, useRefetchOn, useResource } from '../hooks.js';
import { navigate, useLocation } from '../router.js';
import { refusal, useSession } from '../session.js';
import { SubmitForm } from './submit-form.js';

const PAGE_SIZE = 50;
/** How many jobs' latest events the page remembers (oldest forgotten first). */
const RECENT_EVENTS = 5000;

type JobStateEvent = Extract<FeedEvent, { type: 'job.state' }>;

/** The job as an event left it, when the event is newer than what was read. */
function withEvent(j: Job, e: JobStateEvent | undefined): Job {
  if (!e || e.at < j.updatedAt) return j;
  return { ...j, state: e.to, reason: e.reason, inDlq: e.inDlq, nodeId: e.nodeId ?? j.nodeId, devices: e.devices.length > 0 ? e.devices : j.devices, attempts: e.attempt ?? j.attempts, updatedAt: e.at };
}

const SORT_LABELS: Record<string, string> = {
  '-id': 'newest first',
  id: 'oldest first',
  '-priority': 'highest priority first',
  priority: 'lowest priority first',
  '-created': 'created, newest first',
  created: 'created, oldest first',
  '-updated': 'updated, newest first',
  updated: 'updated, oldest first',
};

interface Filters {
  state: string;
  queue: string;
  label: string;
  owner: string;
  name: string;
  sort: JobSort;
}

function filtersOf(q: URLSearchParams): Filters {
  const sort = q.get('sort') ?? '-id';
  return {
    state: q.get('state') ?? '',
    queue: q.get('queue') ?? '',
    label: q.get('label') ?? '',
    owner: q.get('owner') ?? '',
    name: q.get('name') ?? '',
    sort: (JOB_SORTS as readonly string[]).includes(sort) ? (sort as JobSort) : '-id',
  };
}

/** The query of GET /v1/jobs for these filters (only what is set: an empty filter is no filter). */
function listQuery(f: Filters, cursor: string | null): string {
  const q = new URLSearchParams();
  if (f.state) q.set('state', f.state);
  if (f.queue) q.set('queue', f.queue);
  for (const l of f.label.split(',').map((s) => s.trim()).filter(Boolean)) q.append('label', l);
  if (f.owner) q.set('owner', f.owner);
  if (f.name) q.set('name', f.name);
  if (f.sort !== '-id') q.set('sort', f.sort);
  q.set('limit', String(PAGE_SIZE));
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

/**
 * Jobs, a page at a time (the server's cursor pagination, in any order it offers), filtered by state, queue,
 * labels, owner and name. Rows follow their jobs' state changes as events arrive; on the first page, a new
 * job that may belong there reads the page again.
 */
export function JobsPage() {
  const { client, me } = useSession();
  const { query } = useLocation();
  const filters = filtersOf(query);
  const key = listQuery(filters, null);
  // The cursors of the pages seen so far, for these filters (other filters start again at the first page).
  const [pages, setPages] = useState<{ key: string; cursors: (string | null)[] }>({ key, cursors: [null] });
  const cursors = pages.key === key ? pages.cursors : [null];
  const setCursors = (f: (c: (string | null)[]) => (string | null)[]) => setPages({ key, cursors: f(cursors) });
  const page = cursors.length - 1;
  const cursor = cursors[page] ?? null;

  const list = useResource(() => client.request<{ jobs: Job[]; nextCursor: string | null }>('GET', `/v1/jobs?${listQuery(filters, cursor)}`), [key, cursor]);
  const [rows, setRows] = useState<Job[] | undefined>(undefined);
  // The latest event of each job seen lately: a page read while events came in may be older than some of them.
  const recent = useRef(new Map<number, JobStateEvent>());
  useEffect(() => setRows(list.data?.jobs.map((j) => withEvent(j, recent.current.get(j.id)))), [list.data]);
  useEffect(() => {
    if (rows && performance.getEntriesByName('gpuq:jobs-rows').length === 0) performance.mark('gpuq:jobs-rows');
  }, [rows]);

  // A job's change is shown in its row at once; a new job reads the first page again.
  useLiveEvents((e) => {
    if (e.type !== 'job.state') return;
    recent.current.delete(e.jobId);
    recent.current.set(e.jobId, e);
    if (recent.current.size > RECENT_EVENTS) recent.current.delete(recent.current.keys().next().value!);
    setRows((current) => current?.map((j) => (j.id === e.jobId ? withEvent(j, e) : j)));
  });
  useRefetchOn((e) => page === 0 && e.type === 'job.state' && e.from === null, list.reload, 500);

  const set = (patch: Partial<Filters>) => {
    const next = { ...filters, ...patch };
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(next)) if (v && !(k === 'sort' && v === '-id')) q.set(k, v);
    navigate(`/jobs${q.size > 0 ? `?${q}` : ''}`, true);
  };
  const [showSubmit, setShowSubmit] = useState(false);
  const submitRefusal = refusal(me, 'jobs.submit');

  return (
    <div class="page jobs">
      <Section
        title="Jobs"
        testId="jobs"
        actions={
          <button type="button" class="btn primary" disabled={submitRefusal !== null} title={submitRefusal ?? undefined} onClick={() => setShowSubmit((s) => !s)} data-testid="new-job">
            New job
          </button>
        }
      >
        {showSubmit ? <SubmitForm onDone={() => setShowSubmit(false)} /> : null}
        <FilterBar filters={filters} set={set} />
        <ErrorNote error={list.error} what="jobs" />
        <JobTable rows={rows} sort={filters.sort} onSort={(sort) => set({ sort })} />
        <Pager page={page} shown={rows?.length ?? 0} hasNext={!!list.data?.nextCursor} onPrev={() => setCursors((c) => c.slice(0, -1))} onNext={() => list.data?.nextCursor && setCursors((c) => [...c, list.data!.nextCursor])} testId="jobs-pager" />
      </Section>
    </div>
  );
}

function FilterBar(props: { filters: Filters; set: (p: Partial<Filters>) => void }) {
  const { filters, set } = props;
  const [name, setName] = useState(filters.name);
  useEffect(() => setName(filters.name), [filters.name]);
  // Search as the user types, once they pause.
  useEffect(() => {
    if (name === filters.name) return;
    const t = setTimeout(() => set({ name }), 300);
    return () => clearTimeout(t);
  }, [name]);
  const states = filters.state ? filters.state.split(',') : [];
  const toggle = (s: string) => set({ state: (states.includes(s) ? states.filter((x) => x !== s) : [...states, s]).join(',') });
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()} data-testid="filters">
      <input type="search" placeholder="search by name" value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} data-testid="filter-name" aria-label="name contains" />
      <div class="state-toggles" role="group" aria-label="states">
        {JOB_STATES.map((s) => (
          <label key={s} class={`toggle${states.includes(s) ? ' on' : ''}`}>
            <input type="checkbox" checked={states.includes(s)} onChange={() => toggle(s)} data-testid={`filter-state-${s}`} />
            {s}
          </label>
        ))}
      </div>
      <TextFilter label="queue" value={filters.queue} onChange={(queue) => set({ queue })} placeholder="queue" />
      <TextFilter label="label" value={filters.label} onChange={(label) => set({ label })} placeholder="label k=v[,k=v]" />
      <TextFilter label="owner" value={filters.owner} onChange={(owner) => set({ owner })} placeholder="owner: name, tok_… or me" />
      <select value={filters.sort} onChange={(e) => set({ sort: (e.target as HTMLSelectElement).value as JobSort })} data-testid="sort" aria-label="order">
        {JOB_SORTS.map((s) => (
          <option key={s} value={s}>
            {SORT_LABELS[s] ?? s}
          </option>
        ))}
      </select>
    </form>
  );
}

/** A filter applied when the user leaves the field or presses Enter. */
function TextFilter(props: { label: string; value: string; onChange: (v: string) => void; placeholder: string }) {
  const [v, setV] = useState(props.value);
  useEffect(() => setV(props.value), [props.value]);
  const apply = () => v.trim() !== props.value && props.onChange(v.trim());
  return (
    <input
      type="text"
      aria-label={props.label}
      placeholder={props.placeholder}
      value={v}
      data-testid={`filter-${props.label}`}
      onInput={(e) => setV((e.target as HTMLInputElement).value)}
      onBlur={apply}
      onKeyDown={(e) => e.key === 'Enter' && apply()}
    />
  );
}

const SORTABLE: Record<string, string> = { id: 'id', priority: 'priority', created: 'created', updated: 'updated' };

export function JobTable(props: { rows: Job[] | undefined; sort?: JobSort; onSort?: (s: JobSort) => void }) {
  const head = (label: string, key?: string) => {
    if (!key || !props.onSort || !props.sort) return <th>{label}</th>;
    const active = props.sort.replace('-', '') === key;
    const desc = props.sort.startsWith('-');
    return (
      <th class="sortable" aria-sort={active ? (desc ? 'descending' : 'ascending') : undefined}>
        <button type="button" class="link" onClick={() => props.onSort!((active && desc ? key : `-${key}`) as JobSort)} data-testid={`sort-${key}`}>
          {label}
          {active ? (desc ? ' ↓' : ' ↑') : ''}
        </button>
      </th>
    );
  };
  if (!props.rows) return <p class="muted">Loading…</p>;
  if (props.rows.length === 0) return <p class="muted" data-testid="no-jobs">No job matches.</p>;
  return (
    <table class="grid-table jobs-table" data-testid="jobs-table">
      <thead>
        <tr>
          {head('id', SORTABLE.id)}
          {head('name')}
          {head('queue')}
          {head('state')}
          {head('priority', SORTABLE.priority)}
          {head('GPUs')}
          {head('attempts')}
          {head('owner')}
          {head('node')}
          {head('created', SORTABLE.created)}
          {head('updated', SORTABLE.updated)}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((j) => (
          <tr key={j.id} data-testid="job-row" data-job-id={j.id} data-state={j.state}>
            <td class="num">
              <Link to={`/jobs/${j.id}`}>{j.id}</Link>
            </td>
            <td class="name">
              <Link to={`/jobs/${j.id}`}>{j.name}</Link>
            </td>
            <td>{j.queue}</td>
            <td>
              <StateBadge state={j.state} inDlq={j.inDlq} />
            </td>
            <td class="num">{j.priority}</td>
            <td class="num">{j.gpus}</td>
            <td class="num">
              {j.attempts}/{j.attemptLimit}
            </td>
            <td>{j.owner ? <Link to={`/jobs?owner=${encodeURIComponent(j.owner)}`}>{j.owner}</Link> : <span class="muted">local</span>}</td>
            <td>{j.nodeId ? `${j.nodeId}${j.devices.length > 0 ? ` [${j.devices.join(',')}]` : ''}` : ''}</td>
            <td title={new Date(j.createdAt).toISOString()}>{ago(j.createdAt)}</td>
            <td title={new Date(j.updatedAt).toISOString()}>{ago(j.updatedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

