import { replicaCounts, taskRate as rate, type PoolView } from '../../../src/core/pool-view.js';
import { ActionButton, ErrorNote, Link, Section, StateBadge } from '../components.js';
import { count } from '../format.js';
import { useResource } from '../hooks.js';
import { refusal, useSession } from '../session.js';
import { coldStartTotal, isQuiet } from './pool-format.js';
import { usePoolRefresh } from './pool-live.js';

/**
 * Every warm worker pool (ADR 0016): its state, replicas, GPUs held, backlog, throughput over the last minute
 * and latest cold start; each links to its own page. "Stop all pools" for an operator.
 */
export function PoolsPage() {
  const { client, me } = useSession();
  const list = useResource(() => client.listPools(), []);
  const pools = list.data?.pools;
  usePoolRefresh(list.reload, pools === undefined || isQuiet(pools));
  const active = pools?.filter((p) => p.state === 'active').length ?? 0;
  return (
    <div class="page pools">
      <Section
        title="Pools"
        testId="pools"
        actions={
          <ActionButton
            label="Stop all pools"
            tone="danger"
            testId="stop-all-pools"
            refusal={refusal(me, 'pools.manage')}
            disabledReason={pools !== undefined && active === 0 ? 'no pool is active' : null}
            confirm={`Stop all ${active} active pool(s)? New tasks are refused (POOL_STOPPED); replicas finish their in-flight tasks and exit; queued tasks wait until a pool is started again.`}
            run={async () => {
              const r = await client.stopAllPools();
              list.reload();
              return r.stopped.length === 0 ? 'No pool was active' : `Stopped ${r.stopped.length} pool(s): ${r.stopped.join(', ')}`;
            }}
          />
        }
      >
        <ErrorNote error={list.error} what="pools" />
        {!pools ? (
          list.error ? null : <p class="muted">Loading…</p>
        ) : pools.length === 0 ? (
          <p class="muted" data-testid="pools-empty">
            No pool yet. Create one with <code>gpuq pool create NAME --gpus 1 -- ./worker</code>.
          </p>
        ) : (
          <PoolsTable pools={pools} />
        )}
      </Section>
    </div>
  );
}

function PoolsTable(props: { pools: PoolView[] }) {
  return (
    <table class="grid-table" data-testid="pools-table">
      <thead>
        <tr>
          <th>name</th>
          <th>state</th>
          <th class="num" title="ready replicas / live replicas (the pool's maximum)">replicas</th>
          <th class="num">GPUs held</th>
          <th class="num" title="queued tasks (of which runnable now), and tasks a replica holds">backlog</th>
          <th class="num" title="tasks succeeded per second over the last minute">tasks/s</th>
          <th class="num" title="the latest cold start: task accepted → its result">last cold start</th>
        </tr>
      </thead>
      <tbody>
        {props.pools.map((p) => {
          const n = replicaCounts(p);
          const t = p.throughput;
          return (
            <tr key={p.name} data-testid="pool-row" data-pool={p.name} data-state={p.state}>
              <td class="name">
                <Link to={`/pools/${encodeURIComponent(p.name)}`} testId="pool-link">
                  {p.name}
                </Link>
              </td>
              <td>
                <StateBadge state={p.state} />
              </td>
              <td class="num" data-testid="pool-replicas" data-ready={n.ready} data-live={n.live}>
                {n.ready}/{n.live} <span class="muted">(max {n.max})</span>
              </td>
              <td class="num" data-testid="pool-gpus">
                {p.gpusHeld}
              </td>
              <td class="num" data-testid="pool-backlog" data-queued={p.backlog.queued} data-running={p.backlog.running}>
                {count(p.backlog.queued)} queued{p.backlog.runnable !== p.backlog.queued ? ` (${count(p.backlog.runnable)} runnable)` : ''}, {count(p.backlog.running)} running
              </td>
              <td class="num" data-testid="pool-throughput" data-value={t.succeededPerSecond}>
                {rate(t.succeededPerSecond)}
                {t.failedPerSecond > 0 ? <span class="bad-figure"> ({rate(t.failedPerSecond)} failed)</span> : null}
              </td>
              <td class="num" data-testid="pool-cold-start" data-value={p.coldStart ? p.coldStart.resultAt - p.coldStart.acceptedAt : ''}>
                {coldStartTotal(p.coldStart)}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
