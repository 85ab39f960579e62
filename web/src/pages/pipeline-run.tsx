import type { PipelineRunDetail } from '../../../src/sdk/pipelines-client.js';
import { isNotFound } from '../api.js';
import { ErrorNote, Link, Section, StateBadge } from '../components.js';
import { duration, time } from '../format.js';
import { useInterval, useNow, useRefetchOn, useResource } from '../hooks.js';
import { plannedUnits } from '../../../src/core/pipeline-run.js';
import { useSession } from '../session.js';
import { concernsRun, RUN_ENDED, runMs, stepKind, stepsOf, type StepShape } from './pipeline-format.js';

/** How often a run is read while it has pool tasks under way or units still to be created (see PipelineRunPage). */
const RUN_REFRESH_MS = 2000;

type TaskShape = PipelineRunDetail['tasks'][number];

/**
 * One pipeline run: its inputs, each step and lane with its job (or pool task) and state, the published outputs,
 * the reason when it failed, and the on-failure job.
 *
 * Live through the event feed: every job of the run (each step's, and the on-failure job) carries the label
 * `gpuq.pipeline.run=<id>`, and `job.state` events carry the job's labels, so the page reads the run again on
 * exactly its jobs' events, and on the run's own `pipeline.run.ended`. Pool tasks have no feed events (far too
 * frequent), so only while a run has tasks under way or units still to be created is it read on a timer too.
 */
export function PipelineRunPage(props: { id: number }) {
  const { client } = useSession();
  const view = useResource(() => client.getPipelineRun(props.id), [props.id]);
  const run = view.data?.run;
  useRefetchOn((e) => concernsRun(e, { id: props.id }), view.reload, 300);
  const owed = run !== undefined && !RUN_ENDED.has(run.state) && leaderOwes(run);
  useInterval(() => owed && view.reload(), RUN_REFRESH_MS);
  const now = useNow(run && !RUN_ENDED.has(run.state) ? 1000 : 60_000);

  if (!run) {
    return (
      <div class="page">
        {view.error ? <ErrorNote error={view.error} what={isNotFound(view.error) ? `run ${props.id}` : `reading run ${props.id}`} /> : <p class="muted">Loading run {props.id}…</p>}
        <Link to="/pipelines">All pipelines</Link>
      </div>
    );
  }
  return (
    <div class="page pipeline-run" data-testid="run-page" data-run-id={run.id} data-state={run.state}>
      <header class="job-head">
        <h1>
          <span class="muted">run {run.id}</span> {run.pipeline}
        </h1>
        <StateBadge state={run.state} />
        <span class="muted" data-testid="run-duration">
          {RUN_ENDED.has(run.state) ? `took ${duration(runMs(run, now))}` : `running for ${duration(runMs(run, now))}`}
        </span>
      </header>
      <ErrorNote error={view.error} what="reading the run again" />
      <div class="columns">
        <Facts run={run} />
        <Files run={run} />
      </div>
      <Units run={run} />
    </div>
  );
}

/** Whether the run moves on through something no event announces: pool tasks under way, or units still to be created. */
function leaderOwes(run: PipelineRunDetail): boolean {
  return run.jobs.length + run.tasks.length < plannedUnits(run.spec, run.inputs.length) || run.tasks.some((t) => t.state === 'queued' || t.state === 'running');
}

function Facts(props: { run: PipelineRunDetail }) {
  const r = props.run;
  return (
    <Section title="Run" testId="run-facts">
      <dl class="facts">
        <dt>pipeline</dt>
        <dd>
          <Link to={`/pipelines?pipeline=${encodeURIComponent(r.pipeline)}`}>{r.pipeline}</Link>
        </dd>
        <dt>state</dt>
        <dd data-testid="run-state">{r.state}</dd>
        <dt>created</dt>
        <dd>{time(r.createdAt)}</dd>
        <dt>ended</dt>
        <dd>{time(r.endedAt)}</dd>
        <dt>started by</dt>
        <dd>{r.owner ?? <span class="muted">—</span>}</dd>
        <dt>run dir</dt>
        <dd class="mono">{r.runDir}</dd>
        {r.reason !== null ? (
          <>
            <dt>reason</dt>
            <dd class="reason wide" data-testid="run-reason">
              {r.reason}
            </dd>
          </>
        ) : null}
        <dt>on failure</dt>
        <dd class="wide" data-testid="run-on-failure">
          {r.onFailureJobId !== null ? (
            <Link to={`/jobs/${r.onFailureJobId}`}>job {r.onFailureJobId}</Link>
          ) : (
            <span class="muted">{r.spec.onFailure ? (RUN_ENDED.has(r.state) && r.state !== 'succeeded' ? 'not submitted yet' : 'runs if the run fails') : 'the pipeline has no on-failure job'}</span>
          )}
        </dd>
      </dl>
    </Section>
  );
}

function Files(props: { run: PipelineRunDetail }) {
  const r = props.run;
  return (
    <Section title="Files" testId="run-files">
      <h3>Inputs</h3>
      {r.inputs.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <ol class="file-list" start={0} data-testid="run-input-list">
          {r.inputs.map((name, lane) => (
            <li key={lane} class="mono" data-testid="run-input" title={`lane ${lane}`}>
              {name}
            </li>
          ))}
        </ol>
      )}
      <h3>
        Outputs <span class="muted mono">{r.spec.outputDir}</span>
      </h3>
      {r.outputs === null ? (
        <p class="muted" data-testid="run-outputs-none">
          {r.state === 'succeeded' || r.state === 'running' ? 'published once every job succeeded' : 'nothing published: the run did not succeed'}
        </p>
      ) : r.outputs.length === 0 ? (
        <p class="muted">the last step wrote no file</p>
      ) : (
        <ul class="file-list" data-testid="run-output-list">
          {r.outputs.map((o) => (
            <li key={o.name} class="mono" data-testid="run-output" title={o.from}>
              {o.name}
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function Units(props: { run: PipelineRunDetail }) {
  const r = props.run;
  const tasks = r.tasks;
  const rows = stepsOf(r.spec.steps).flatMap((step, s) =>
    Array.from({ length: step.fanOut ? r.inputs.length : 1 }, (_, lane) => ({ step, s, lane })),
  );
  return (
    <Section title="Steps" testId="run-steps">
      <table class="grid-table" data-testid="run-units">
        <thead>
          <tr>
            <th>step</th>
            <th>runs as</th>
            <th title="a fan-out step runs once per input">lane</th>
            <th>job</th>
            <th>state</th>
            <th>reason</th>
          </tr>
        </thead>
        <tbody>
          {rows.map(({ step, s, lane }) => (
            <UnitRow key={`${s}/${lane}`} run={r} step={step} s={s} lane={lane} task={tasks.find((t) => t.step === s && t.lane === lane)} />
          ))}
        </tbody>
      </table>
    </Section>
  );
}

function UnitRow(props: { run: PipelineRunDetail; step: StepShape; s: number; lane: number; task: TaskShape | undefined }) {
  const { run, step, s, lane, task } = props;
  const job = run.jobs.find((j) => j.step === s && j.lane === lane);
  const state = job?.state ?? (task ? (task.state ?? 'gone') : null);
  return (
    <tr data-testid="run-unit" data-step={step.name} data-lane={lane} data-job-id={job?.jobId ?? ''} data-state={state ?? ''}>
      <td class="name">{step.name}</td>
      <td>{stepKind(step).text}</td>
      <td>{step.fanOut ? <span class="mono">{lane}: {run.inputs[lane] ?? '?'}</span> : <span class="muted">all</span>}</td>
      <td class="num">
        {job ? (
          <Link to={`/jobs/${job.jobId}`} testId="run-unit-job">
            {job.jobId}
          </Link>
        ) : task ? (
          <span title={step.pool ? `a task of pool ${step.pool.name}` : undefined}>task {task.taskId}</span>
        ) : (
          <span class="muted">not created yet</span>
        )}
      </td>
      <td>{state ? <StateBadge state={state} /> : <span class="muted">—</span>}</td>
      {/* A job that succeeded has a reason too ("exited with code 0"): only a failure's is worth the column. */}
      <td class="reason">{state === 'succeeded' ? '' : (job?.reason ?? task?.error ?? '')}</td>
    </tr>
  );
}
