import { useEffect, useState } from 'preact/hooks';
import type { SloLine, SloReport } from '../../../src/core/slo-report.js';
import type { JobState } from '../../../src/core/types.js';
import { isNotFound } from '../api.js';
import { LineChart } from '../charts.js';
import { ErrorNote, Link, Section, Simulated } from '../components.js';
import { count } from '../format.js';
import { useRefetchOn, useResource } from '../hooks.js';
import { useSession } from '../session.js';
import { useActivity, WINDOW_MS } from './activity.js';
import { GpuTiles } from './gpu-tiles.js';

/** GET /v1/jobs/counts: jobs by state, in all and by queue, and the DLQ's size. */
interface Counts {
  total: number;
  byState: Record<JobState, number>;
  dlq: number;
  queues: { queue: string; total: number; byState: Record<JobState, number>; dlq: number }[];
}

const TILES: { key: string; label: string; states: JobState[]; filter: string }[] = [
  { key: 'queued', label: 'Queued', states: ['queued'], filter: 'queued' },
  { key: 'running', label: 'Running', states: ['assigned', 'running'], filter: 'assigned,running' },
  { key: 'succeeded', label: 'Succeeded', states: ['succeeded'], filter: 'succeeded' },
  { key: 'failed', label: 'Failed', states: ['failed'], filter: 'failed' },
  { key: 'cancelled', label: 'Cancelled', states: ['cancelled'], filter: 'cancelled' },
];

/**
 * The operator's first look: jobs by state (read again as job events arrive), activity over the last hour,
 * the SLO report's headline, and a tile per GPU.
 */
export function OverviewPage() {
  const { client } = useSession();
  const counts = useResource(() => client.request<Counts>('GET', '/v1/jobs/counts'), []);
  useRefetchOn((e) => e.type === 'job.state', counts.reload, 500);

  const data = counts.data;
  const total = (states: JobState[]) => (data ? states.reduce((n, s) => n + (data.byState[s] ?? 0), 0) : 0);
  const dlq = data?.dlq ?? 0;
  useEffect(() => {
    // The first meaningful paint of this page: the counts are on screen (bench/dashboard.mjs reads this mark).
    if (data && performance.getEntriesByName('gpuq:overview-counts').length === 0) performance.mark('gpuq:overview-counts');
  }, [data]);

  return (
    <div class="page overview">
      <ErrorNote error={counts.error} what="job counts" />
      <div class="tiles" data-testid="counts" data-ready={data ? 'true' : 'false'}>
        {TILES.map((t) => (
          <Link key={t.key} to={`/jobs?state=${t.filter}`} class={`tile count state-${t.key}`} testId={`count-${t.key}`}>
            <span class="tile-label">{t.label}</span>
            <span class="tile-value" data-value={data ? total(t.states) : ''}>
              {data ? count(total(t.states)) : '…'}
            </span>
          </Link>
        ))}
        <Link to="/dlq" class="tile count state-dlq" testId="count-dlq">
          <span class="tile-label">In the DLQ</span>
          <span class="tile-value" data-value={data ? dlq : ''}>
            {data ? count(dlq) : '…'}
          </span>
        </Link>
      </div>
      {/* The rest is read once the counts are on screen: a costly read (the SLO report over a big store) must not delay them. */}
      {data ? (
        <>
          <div class="columns">
            <ActivityPanel queued={data.byState.queued} />
            <ReportPanel />
          </div>
          <GpuTiles />
          <QueueTable data={data} />
        </>
      ) : null}
    </div>
  );
}

function ActivityPanel(props: { queued: number | undefined }) {
  const a = useActivity(props.queued);
  return (
    <Section title={a && a.to - a.from < WINDOW_MS - 60_000 ? `Activity since ${clock(a.from)}` : 'Activity · last hour'} testId="activity">
      {a ? (
        <>
          <h3>Jobs queued</h3>
          <LineChart testId="queue-depth-chart" series={[{ label: 'queued', tone: 's2', points: a.queued }]} from={a.from} to={a.to} step />
          <h3>Jobs finished per minute</h3>
          <LineChart
            testId="finished-chart"
            series={[
              { label: 'succeeded', tone: 's1', points: a.succeeded },
              { label: 'failed', tone: 's3', points: a.failed },
            ]}
            from={a.from}
            to={a.to}
            step
          />
        </>
      ) : (
        <p class="muted">Loading…</p>
      )}
    </Section>
  );
}

const UNITS: Record<SloLine['unit'], string> = { percent: '%', seconds: 's', count: '', hours: 'GPU-h', attempts: '' };

function ReportPanel() {
  const { client } = useSession();
  const report = useResource(() => client.request<SloReport>('GET', '/v1/report?since=24h'), []);
  useRefetchOn((e) => e.type === 'job.state', report.reload, 30_000);
  const r = report.data;
  // The headline: the lines with an objective; every figure on request.
  const [all, setAll] = useState(false);
  const lines = r ? (all ? r.lines : r.lines.filter((l) => l.threshold !== null)) : [];
  return (
    <Section
      title="SLO report · last 24 h"
      testId="report"
      actions={
        <>
          {r?.gpus.simulated ? <Simulated /> : null}
          {r ? (
            <button type="button" class="btn" onClick={() => setAll((a) => !a)} data-testid="report-all">
              {all ? 'Objectives only' : `All ${r.lines.length} figures`}
            </button>
          ) : null}
        </>
      }
    >
      {report.error ? isNotFound(report.error) ? <p class="muted">This server has no SLO report (GET /v1/report).</p> : <ErrorNote error={report.error} what="report" /> : null}
      {r ? (
        <table class="report">
          <tbody>
            {lines.map((l) => (
              <tr key={l.key} data-testid={`report-${l.key}`}>
                <th>{l.label}</th>
                <td class="num">
                  {formatValue(l.value)}
                  {l.value !== null && UNITS[l.unit] ? ` ${UNITS[l.unit]}` : ''}
                </td>
                <td class="muted">{l.threshold ? `objective ${l.threshold.text}` : ''}</td>
                <td>
                  <span class={`badge slo-${l.status.replace('/', '')}`}>{l.status}</span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {r ? (
        <p class="muted">
          {count(r.jobs.succeeded + r.jobs.failed)} jobs finished ({count(r.jobs.failed)} failed), {count(r.jobs.queuedNow)} queued and {count(r.jobs.runningNow)} running now.
          {r.gpus.simulated ? ' GPU figures come from simulated devices (--fake-gpus).' : ''}
        </p>
      ) : null}
    </Section>
  );
}

function formatValue(v: number | null): string {
  if (v === null) return '—';
  return Number.isInteger(v) ? count(v) : v.toFixed(Math.abs(v) < 10 ? 2 : 1);
}

function QueueTable(props: { data: Counts }) {
  const queues = props.data.queues;
  if (queues.length === 0) return null;
  return (
    <Section title="Queues" testId="queues">
      <table class="grid-table">
        <thead>
          <tr>
            <th>queue</th>
            {TILES.map((t) => (
              <th key={t.key} class="num">
                {t.label.toLowerCase()}
              </th>
            ))}
            <th class="num">DLQ</th>
          </tr>
        </thead>
        <tbody>
          {queues.map((q) => (
            <tr key={q.queue} data-testid="queue-row" data-queue={q.queue}>
              <td>
                <Link to={`/jobs?queue=${encodeURIComponent(q.queue)}`}>{q.queue}</Link>
              </td>
              {TILES.map((t) => (
                <td key={t.key} class="num">
                  {count(t.states.reduce((n, s) => n + (q.byState[s] ?? 0), 0))}
                </td>
              ))}
              <td class="num">{count(q.dlq)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit' });
}
