import { useState } from 'preact/hooks';
import type { Pipeline, PipelineRun } from '../../../src/sdk/pipelines-client.js';
import { ErrorNote, Link, Pager, Section, StateBadge } from '../components.js';
import { duration, time } from '../format.js';
import { useInterval, useNow, useRefetchOn, useResource } from '../hooks.js';
import { navigate, useLocation } from '../router.js';
import { useSession } from '../session.js';
import { concernsRun, RUN_ENDED, runMs, stepKind, stepsOf } from './pipeline-format.js';

const PAGE_SIZE = 50;

/**
 * How often the runs list is read again while a run it shows is running. A run's jobs announce themselves
 * (`job.state` events carry the run's label, and a run's end is `pipeline.run.ended`: read again at once); pool
 * tasks have no events, so a list with a running run is also read on a timer.
 */
export const RUNS_REFRESH_MS = 3000;

/**
 * Pipelines (ADR 0018): each definition with its steps, and the latest runs (newest first, paged with the API's
 * `before` cursor), filtered by pipeline (`?pipeline=NAME`). A run links to its own page.
 */
export function PipelinesPage() {
  const { client } = useSession();
  const defs = useResource(() => client.listPipelines(), []);
  // Definitions have no event: read once, and again when the stream (re)opens (a gap may hide a create).
  useRefetchOn(() => false, defs.reload);
  const pipelines = defs.data?.pipelines;
  return (
    <div class="page pipelines">
      <Section title="Pipelines" testId="pipelines">
        <ErrorNote error={defs.error} what="pipelines" />
        {!pipelines ? (
          defs.error ? null : <p class="muted">Loading…</p>
        ) : pipelines.length === 0 ? (
          <p class="muted" data-testid="pipelines-empty">
            No pipeline yet. Define one with <code>gpuq pipeline create -f pipeline.yaml</code>.
          </p>
        ) : (
          <DefinitionsTable pipelines={pipelines} />
        )}
      </Section>
      <Runs names={pipelines?.map((p) => p.name) ?? []} />
    </div>
  );
}

function DefinitionsTable(props: { pipelines: Pipeline[] }) {
  return (
    <table class="grid-table" data-testid="pipelines-table">
      <thead>
        <tr>
          <th>name</th>
          <th>description</th>
          <th>steps</th>
          <th>output dir</th>
          <th title="a job run once when a run fails">on failure</th>
          <th>created</th>
        </tr>
      </thead>
      <tbody>
        {props.pipelines.map((p) => (
          <tr key={p.name} data-testid="pipeline-row" data-pipeline={p.name}>
            <td class="name">
              <Link to={`/pipelines?pipeline=${encodeURIComponent(p.name)}`} testId="pipeline-link" title={`runs of ${p.name}`}>
                {p.name}
              </Link>
            </td>
            <td>{p.spec.description ?? <span class="muted">—</span>}</td>
            <td data-testid="pipeline-steps">
              {stepsOf(p.spec.steps).map((s, i) => {
                const k = stepKind(s);
                return (
                  <span key={s.name}>
                    {i > 0 ? <span class="muted"> → </span> : null}
                    <span class="chip" data-testid="pipeline-step" data-step={s.name} data-kind={k.kind} data-fan-out={String(s.fanOut)}>
                      {s.name}: {k.text}
                      {s.fanOut ? ' · fan-out' : ''}
                    </span>
                  </span>
                );
              })}
            </td>
            <td class="mono" data-testid="pipeline-output-dir">
              {p.spec.outputDir}
            </td>
            <td>{p.spec.onFailure ? 'a job' : <span class="muted">—</span>}</td>
            <td>{time(p.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Runs(props: { names: string[] }) {
  const { client } = useSession();
  const { query } = useLocation();
  const pipeline = query.get('pipeline') ?? '';
  const [pages, setPages] = useState<{ pipeline: string; cursors: (number | null)[] }>({ pipeline, cursors: [null] });
  const cursors = pages.pipeline === pipeline ? pages.cursors : [null];
  const page = cursors.length - 1;
  const before = cursors[page] ?? null;
  const list = useResource(() => client.listPipelineRuns({ ...(pipeline ? { pipeline } : {}), ...(before !== null ? { before } : {}), limit: PAGE_SIZE }), [pipeline, before]);
  const runs = list.data?.runs;
  // Live: a run's jobs are `job.state` events labelled with the run (its start, each step, its on-failure job), and
  // its end is `pipeline.run.ended`; a run whose first step is a pool task starts with no event, so while one
  // shown is running the list is read on a timer too.
  useRefetchOn((e) => concernsRun(e, pipeline ? { pipeline } : {}), list.reload, 1000);
  const running = runs?.some((r) => !RUN_ENDED.has(r.state)) ?? false;
  useInterval(() => running && list.reload(), RUNS_REFRESH_MS);
  const now = useNow(running ? 1000 : 60_000);
  const options = pipeline && !props.names.includes(pipeline) ? [...props.names, pipeline] : props.names;
  const nextBefore = list.data?.nextBefore ?? null;

  return (
    <Section
      title="Runs"
      testId="pipeline-runs"
      actions={
        <select
          aria-label="pipeline"
          value={pipeline}
          data-testid="runs-pipeline"
          onChange={(e) => {
            const v = (e.target as HTMLSelectElement).value;
            navigate(`/pipelines${v ? `?pipeline=${encodeURIComponent(v)}` : ''}`, true);
          }}
        >
          <option value="">every pipeline</option>
          {options.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
        </select>
      }
    >
      <ErrorNote error={list.error} what="pipeline runs" />
      {!runs ? (
        list.error ? null : <p class="muted">Loading…</p>
      ) : runs.length === 0 ? (
        <p class="muted" data-testid="runs-empty">
          No run{pipeline ? ` of ${pipeline}` : ''} yet. Start one with <code>gpuq pipeline run NAME --input FILE</code>.
        </p>
      ) : (
        <RunsTable runs={runs} now={now} />
      )}
      <Pager page={page} shown={runs?.length ?? 0} hasNext={nextBefore !== null} onPrev={() => setPages({ pipeline, cursors: cursors.slice(0, -1) })} onNext={() => nextBefore !== null && setPages({ pipeline, cursors: [...cursors, nextBefore] })} />
    </Section>
  );
}

function RunsTable(props: { runs: PipelineRun[]; now: number }) {
  return (
    <table class="grid-table" data-testid="runs-table">
      <thead>
        <tr>
          <th>run</th>
          <th>pipeline</th>
          <th>state</th>
          <th class="num">inputs</th>
          <th>created</th>
          <th class="num">duration</th>
          <th>reason</th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map((r) => (
          <tr key={r.id} data-testid="run-row" data-run-id={r.id} data-state={r.state}>
            <td class="num">
              <Link to={`/pipeline-runs/${r.id}`} testId="run-link">
                {r.id}
              </Link>
            </td>
            <td class="name">
              <Link to={`/pipelines?pipeline=${encodeURIComponent(r.pipeline)}`}>{r.pipeline}</Link>
            </td>
            <td>
              <StateBadge state={r.state} />
            </td>
            <td class="num" data-testid="run-inputs">
              {r.inputs.length}
            </td>
            <td>{time(r.createdAt)}</td>
            <td class="num">{duration(runMs(r, props.now))}</td>
            <td class="reason" data-testid="run-reason">
              {r.reason ?? ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
