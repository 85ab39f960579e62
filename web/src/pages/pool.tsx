import { useState } from 'preact/hooks';
import type { PoolReplica } from '../../../src/core/pool-spec.js';
import { replicaCounts, taskRate as rate, type PoolView } from '../../../src/core/pool-view.js';
import { isNotFound } from '../api.js';
import { ActionButton, ErrorNote, Link, Section, StateBadge } from '../components.js';
import { count, duration, mib, time } from '../format.js';
import { useNow, useResource } from '../hooks.js';
import { refusal, useSession } from '../session.js';
import { coldStartLegs, isQuiet, seconds, uptime } from './pool-format.js';
import { usePoolRefresh } from './pool-live.js';

/**
 * One pool: its definition, what it does now (backlog, throughput, GPUs held, the latest cold start), its
 * replicas (live ones and those that ended in the last 10 minutes, each a job), and Stop / Start / Evict.
 */
export function PoolPage(props: { name: string }) {
  const { client } = useSession();
  const view = useResource(() => client.getPool(props.name), [props.name]);
  const p = view.data?.pool;
  // A deleted pool answers 404: nothing moves any more.
  usePoolRefresh(view.reload, p === undefined || isQuiet([p]), props.name);
  const now = useNow(1000);

  if (!p) {
    return (
      <div class="page">
        {view.error ? <ErrorNote error={view.error} what={isNotFound(view.error) ? `pool ${props.name}` : `reading pool ${props.name}`} /> : <p class="muted">Loading pool {props.name}…</p>}
        <Link to="/pools">All pools</Link>
      </div>
    );
  }
  return (
    <div class="page pool" data-testid="pool-page" data-pool={p.name} data-state={p.state}>
      <header class="job-head">
        <h1>
          <span class="muted">pool</span> {p.name}
        </h1>
        <StateBadge state={p.state} />
        <span class="muted">generation {p.generation}</span>
        <PoolActions pool={p} reload={view.reload} />
      </header>
      {/* A later read failed (the pool was deleted, or the server is out of reach): say so above what was read last. */}
      <ErrorNote error={view.error} what={isNotFound(view.error) ? `pool ${p.name} is gone` : 'reading the pool again'} />
      <div class="columns">
        <Definition pool={p} />
        <Now pool={p} />
      </div>
      <Replicas pool={p} now={now} />
    </div>
  );
}

function PoolActions(props: { pool: PoolView; reload: () => void }) {
  const { client, me } = useSession();
  const { pool: p } = props;
  const why = refusal(me, 'pools.manage');
  const [reason, setReason] = useState('');
  const live = p.replicas.filter((r) => r.state !== 'ended').length;
  return (
    <div class="job-actions">
      {p.state === 'active' ? (
        <ActionButton
          label="Stop"
          tone="danger"
          testId="pool-stop"
          refusal={why}
          confirm={`Stop pool ${p.name}? New tasks are refused (POOL_STOPPED); its ${live} replica(s) finish their in-flight tasks and exit; queued tasks wait until it is started again.`}
          run={async () => {
            await client.stopPool(p.name);
            props.reload();
            return `Pool ${p.name} stopped`;
          }}
        />
      ) : (
        <ActionButton
          label="Start"
          tone="primary"
          testId="pool-start"
          refusal={why}
          run={async () => {
            await client.startPool(p.name);
            props.reload();
            return `Pool ${p.name} started`;
          }}
        />
      )}
      <ActionButton
        label="Evict"
        tone="danger"
        testId="pool-evict"
        refusal={why}
        disabledReason={live === 0 ? 'the pool has no live replica' : null}
        confirm={`Evict pool ${p.name}? It is stopped and its ${live} replica(s) killed now (SIGTERM, then SIGKILL after the grace period); their in-flight tasks are delivered again once it is started.`}
        confirmBody={
          <label class="modal-field">
            reason (written to the audit log)
            <input type="text" maxLength={500} value={reason} placeholder="e.g. node needs a driver update" data-testid="evict-reason" onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
          </label>
        }
        run={async () => {
          const r = await client.evictPool(p.name, reason.trim() === '' ? undefined : reason.trim());
          setReason('');
          props.reload();
          return `Pool ${p.name}: evicted ${r.evicted.length} replica(s)${r.evicted.length > 0 ? ` (jobs ${r.evicted.join(', ')})` : ''}`;
        }}
      />
    </div>
  );
}

function Definition(props: { pool: PoolView }) {
  const s = props.pool.spec;
  const mp = s.memoryPolicy;
  const entries = (m: Record<string, string>) =>
    Object.entries(m).map(([k, v]) => (
      <span key={k} class="chip">
        {k}={v}
      </span>
    ));
  return (
    <Section title="Definition" testId="pool-definition">
      <dl class="facts">
        <dt>command</dt>
        <dd class="mono wide" data-testid="pool-command">
          {s.command.map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}
        </dd>
        <dt>per replica</dt>
        <dd data-testid="pool-per-replica">{perReplica(s)}</dd>
        <dt>concurrency</dt>
        <dd>{s.concurrency} task(s) per replica at once</dd>
        <dt>replicas</dt>
        <dd data-testid="pool-min-max">
          min {s.minReplicas}, max {s.maxReplicas}
        </dd>
        <dt>target backlog</dt>
        <dd>{count(s.targetBacklog)} queued tasks per ready replica</dd>
        <dt>timeouts</dt>
        <dd>
          idle {seconds(s.idleTimeoutSeconds)}, task {seconds(s.taskTimeoutSeconds)}, start {seconds(s.startTimeoutSeconds)}, grace {seconds(s.graceSeconds)}
        </dd>
        <dt>deliveries</dt>
        <dd>
          at most {s.maxAttempts}; backoff {seconds(s.backoff.initialSeconds)} → {seconds(s.backoff.maxSeconds)} ×{s.backoff.multiplier}
        </dd>
        <dt>memory policy</dt>
        <dd data-testid="pool-memory-policy">
          {mp.killOnOom ? 'kill a replica on OOM' : 'OOM only reported'}; GPU memory limit {mp.gpuMemoryLimitMb === undefined ? 'none' : mib(mp.gpuMemoryLimitMb)}; eviction priority {mp.evictionPriority}
        </dd>
        {s.cwd !== undefined ? (
          <>
            <dt>cwd</dt>
            <dd class="mono">{s.cwd}</dd>
          </>
        ) : null}
        {Object.keys(s.env).length > 0 ? (
          <>
            <dt>env</dt>
            <dd>{entries(s.env)}</dd>
          </>
        ) : null}
        {Object.keys(s.nodeSelector).length > 0 ? (
          <>
            <dt>nodes</dt>
            <dd>{entries(s.nodeSelector)}</dd>
          </>
        ) : null}
        <dt>created</dt>
        <dd>{time(props.pool.createdAt)}</dd>
        <dt>updated</dt>
        <dd>{time(props.pool.updatedAt)}</dd>
      </dl>
    </Section>
  );
}

/** What one replica reserves: "1 GPU, 4 CPUs, 16.0 GiB memory". */
function perReplica(s: PoolView['spec']): string {
  const parts = [`${s.gpus} GPU${s.gpus === 1 ? '' : 's'}`];
  if (s.cpus > 0) parts.push(`${s.cpus} CPU${s.cpus === 1 ? '' : 's'}`);
  if (s.memoryMb > 0) parts.push(`${mib(s.memoryMb)} memory`);
  return parts.length === 1 ? `${parts[0]} (no CPUs or memory reserved)` : parts.join(', ');
}

function Now(props: { pool: PoolView }) {
  const p = props.pool;
  const n = replicaCounts(p);
  const b = p.backlog;
  const c = p.coldStart;
  const legs = c ? coldStartLegs(c) : null;
  return (
    <Section title="Now" testId="pool-now">
      <dl class="facts">
        <dt>replicas</dt>
        <dd data-testid="pool-replicas" data-ready={n.ready} data-live={n.live}>
          {n.ready} ready of {n.live} live (max {n.max})
        </dd>
        <dt>GPUs held</dt>
        <dd data-testid="pool-gpus">{p.gpusHeld}</dd>
        <dt>backlog</dt>
        <dd data-testid="pool-backlog" data-queued={b.queued} data-running={b.running}>
          {count(b.queued)} queued ({count(b.runnable)} runnable now), {count(b.running)} running
        </dd>
        <dt>throughput</dt>
        <dd data-testid="pool-throughput" data-value={p.throughput.succeededPerSecond}>
          {rate(p.throughput.succeededPerSecond)} tasks/s succeeded, {rate(p.throughput.failedPerSecond)} failed <span class="muted">(last 60 s)</span>
        </dd>
        <dt>cold start</dt>
        <dd data-testid="pool-cold-start" data-value={legs ? legs.result : ''}>
          {c && legs ? (
            <>
              accepted → replica ready {legs.ready === null ? '?' : duration(legs.ready)} → result {duration(legs.result)}{' '}
              <span class="muted">
                (task {c.taskId}, replica <Link to={`/jobs/${c.replicaJobId}`}>job {c.replicaJobId}</Link>, {time(c.acceptedAt)})
              </span>
            </>
          ) : (
            <span class="muted">none measured yet</span>
          )}
        </dd>
      </dl>
    </Section>
  );
}

function Replicas(props: { pool: PoolView; now: number }) {
  const rows = props.pool.replicas;
  return (
    <Section title="Replicas" testId="pool-replica-list">
      <p class="hint">Each replica is a job of queue pool.{props.pool.name}: live ones, and those that ended in the last 10 minutes.</p>
      {rows.length === 0 ? (
        <p class="muted" data-testid="replicas-empty">
          No replica: the pool starts one when a task comes{props.pool.state === 'stopped' ? ' and it is started again' : ''}.
        </p>
      ) : (
        <table class="grid-table" data-testid="replicas-table">
          <thead>
            <tr>
              <th>job</th>
              <th>state</th>
              <th>gen</th>
              <th>node</th>
              <th>GPUs</th>
              <th title="from the replica's start to its worker's ready: the model load">ready after</th>
              <th class="num">uptime</th>
              <th class="num">tasks done</th>
              <th>end</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <ReplicaRow key={r.jobId} r={r} now={props.now} />
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function ReplicaRow(props: { r: PoolReplica; now: number }) {
  const { r, now } = props;
  return (
    <tr data-testid="replica-row" data-job-id={r.jobId} data-state={r.state}>
      <td class="num">
        <Link to={`/jobs/${r.jobId}`}>{r.jobId}</Link>
      </td>
      <td>
        <StateBadge state={r.state} />
        {r.stopRequested && r.state !== 'ended' && r.state !== 'stopping' ? <span class="muted"> stop asked</span> : null}
      </td>
      <td>{r.generation}</td>
      <td data-testid="replica-node">{r.nodeId ?? '—'}</td>
      <td data-testid="replica-gpus">{r.devices.length > 0 ? r.devices.join(', ') : '—'}</td>
      <td title={r.readyAt === null ? undefined : `ready at ${time(r.readyAt)}`}>{r.readyAt === null || r.startedAt === null ? '—' : duration(r.readyAt - r.startedAt)}</td>
      <td class="num">{uptime(r, now)}</td>
      <td class="num" data-testid="replica-tasks">
        {count(r.tasksDone)}
      </td>
      <td class="reason" data-testid="replica-end">
        {r.endReason === null ? '' : (
          <>
            <b>{r.endReason}</b>
            {r.endDetail ? `: ${r.endDetail}` : ''}
          </>
        )}
      </td>
    </tr>
  );
}
