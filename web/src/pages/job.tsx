import { TERMINAL_JOB_STATES } from '../../../src/core/types.js';
import type { JobDetail, JobResult } from '../../../src/sdk/client.js';
import { isNotFound } from '../api.js';
import { ActionButton, ErrorNote, Link, Section, StateBadge } from '../components.js';
import { ago, duration, time } from '../format.js';
import { useInterval, useNow, useRefetchOn, useResource } from '../hooks.js';
import { cancelRefusal, refusal, useSession } from '../session.js';
import { Accounting, AttemptTimeline, type AttemptView } from './job-attempts.js';
import { Artifacts } from './job-output.js';
import { LogView } from './log-view.js';

const ACCOUNTING_REFRESH_MS = 5000;

/**
 * One job: what it is, where it ran (attempts on a time line, with their GPU accounting), what it left, what it
 * waits for, its log followed live, and cancel / replay. Read again whenever an event names the job or one of
 * its dependencies.
 */
export function JobPage(props: { id: number }) {
  const { client, me } = useSession();
  const detail = useResource(() => client.get(props.id), [props.id]);
  const d = detail.data;
  const deps = new Set(d?.dependencies.map((x) => x.jobId) ?? []);
  useRefetchOn((e) => 'jobId' in e && (e.jobId === props.id || deps.has(e.jobId)), detail.reload, 200);
  const now = useNow(1000);
  // A running attempt's GPU accounting moves with the agent's heartbeats, which no event announces: read it again now and then.
  const accounting = d !== undefined && d.job.gpus > 0 && d.attempts.some((a) => a.endedAt === null && a.startedAt !== null);
  useInterval(() => accounting && detail.reload(), ACCOUNTING_REFRESH_MS);

  if (detail.error && !d) {
    return (
      <div class="page">
        <ErrorNote error={detail.error} what={`job ${props.id}`} />
        <Link to="/jobs">All jobs</Link>
      </div>
    );
  }
  if (!d) return <p class="muted">Loading job {props.id}…</p>;
  const { job } = d;
  const terminal = TERMINAL_JOB_STATES.includes(job.state);
  const attempts = d.attempts as AttemptView[];
  const ran = job.startedAt === null ? null : (job.finishedAt ?? now) - job.startedAt;

  return (
    <div class="page job" data-testid="job-page" data-job-id={job.id} data-state={job.state}>
      <header class="job-head">
        <h1>
          <span class="muted">job {job.id}</span> {job.name}
        </h1>
        <StateBadge state={job.state} inDlq={job.inDlq} />
        <div class="job-actions">
          <ActionButton
            label="Cancel"
            tone="danger"
            testId="cancel-job"
            refusal={cancelRefusal(me, job)}
            disabledReason={terminal ? `the job already ended (${job.state})` : null}
            confirm={`Cancel job ${job.id} (${job.name})? A running attempt gets SIGTERM, then SIGKILL after the grace period; jobs waiting for it fail.`}
            run={async () => {
              const r = await client.cancel(job.id, 'cancelled from the dashboard');
              detail.reload();
              return r.cancelled ? `Cancelled job ${job.id}${r.dependentsFailed.length > 0 ? `; ${r.dependentsFailed.length} waiting job(s) failed with it` : ''}` : `Job ${job.id} had already ended`;
            }}
          />
          <ActionButton
            label="Replay"
            testId="replay-job"
            refusal={refusal(me, 'dlq.replay')}
            disabledReason={job.inDlq ? null : 'only a job in the dead-letter queue can be replayed'}
            run={async () => {
              const r = await client.replay({ ids: [job.id] });
              detail.reload();
              return r.failedAgain.length > 0 ? `Job ${job.id} failed again at once: a job it depends on is still failed` : `Replayed job ${job.id}`;
            }}
          />
        </div>
      </header>
      <ErrorNote error={detail.error} what="reading the job again" />
      <dl class="facts">
        <dt>queue</dt>
        <dd>
          <Link to={`/jobs?queue=${encodeURIComponent(job.queue)}`}>{job.queue}</Link>
        </dd>
        <dt>owner</dt>
        <dd>{job.owner ?? 'local (auth off)'}</dd>
        <dt>priority</dt>
        <dd>{job.priority}</dd>
        <dt>GPUs</dt>
        <dd>
          {job.gpus}
          {job.nodeId ? ` on ${job.nodeId}${job.devices.length > 0 ? ` [${job.devices.join(', ')}]` : ''}` : ''}
        </dd>
        <dt>attempts</dt>
        <dd>
          {job.attempts} of {job.attemptLimit}
        </dd>
        <dt>created</dt>
        <dd title={new Date(job.createdAt).toISOString()}>
          {time(job.createdAt)} ({ago(job.createdAt, now)})
        </dd>
        <dt>started</dt>
        <dd>{time(job.startedAt)}</dd>
        <dt>finished</dt>
        <dd>{time(job.finishedAt)}</dd>
        <dt>{terminal ? 'ran' : 'running for'}</dt>
        <dd>{duration(ran)}</dd>
        {job.reason ? (
          <>
            <dt>reason</dt>
            <dd class="reason" data-testid="job-reason">
              {job.reason}
            </dd>
          </>
        ) : null}
        {d.waiting ? (
          <>
            <dt>waiting</dt>
            <dd data-testid="job-waiting">{d.waiting}</dd>
          </>
        ) : null}
        {Object.keys(job.spec.labels).length > 0 ? (
          <>
            <dt>labels</dt>
            <dd>
              {Object.entries(job.spec.labels).map(([k, v]) => (
                <span key={k} class="chip">
                  {k}={v}
                </span>
              ))}
            </dd>
          </>
        ) : null}
      </dl>

      <Section title={`Attempts · ${attempts.length}`} testId="attempts">
        {attempts.length === 0 ? <p class="muted">No attempt yet{d.waiting ? `: ${d.waiting}` : ''}.</p> : <AttemptTimeline attempts={attempts} now={now} />}
      </Section>

      {job.gpus > 0 ? <Accounting attempts={attempts} now={now} /> : null}

      <Section title="Log" testId="log-section">
        <LogView jobId={job.id} attempts={attempts.map((a) => a.number)} />
      </Section>

      <div class="columns">
        <Output job={d} />
        <Dependencies detail={d} />
      </div>

      <Section title="Transitions" testId="transitions">
        <table class="grid-table">
          <tbody>
            {d.events.map((e, i) => (
              <tr key={i}>
                <td>{time(e.at)}</td>
                <td>
                  {e.from ?? '—'} → <StateBadge state={e.to} />
                </td>
                <td>{e.attempt === null ? '' : `attempt ${e.attempt}`}</td>
                <td class="reason">{e.reason ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>

      <Section title="Spec" testId="spec">
        <pre class="code">{JSON.stringify(job.spec, null, 2)}</pre>
      </Section>
    </div>
  );
}

function Output(props: { job: JobDetail }) {
  const { client } = useSession();
  const { job } = props.job;
  const ended = props.job.attempts.filter((a) => a.endedAt !== null).length;
  const result = useResource(() => client.result(job.id), [job.id, ended]);
  return (
    <Section title="Result and artifacts" testId="result">
      {result.error ? isNotFound(result.error) ? <p class="muted">No result yet: no attempt has ended and reported one.</p> : <ErrorNote error={result.error} what="result" /> : null}
      {result.data ? <ResultBody result={result.data} /> : null}
    </Section>
  );
}

function ResultBody(props: { result: JobResult }) {
  const r = props.result;
  return (
    <>
      <p class="muted">
        from attempt {r.attempt} ({r.state}) on {r.nodeId}
      </p>
      {r.note ? <p class="muted">{r.note}</p> : null}
      {r.result === null ? <p class="muted">The job wrote no result ($GPUQ_RESULT_FILE).</p> : <pre class="code" data-testid="result-json">{JSON.stringify(r.result, null, 2)}</pre>}
      <Artifacts jobId={r.jobId} attempt={r.attempt} artifacts={r.artifacts} />
    </>
  );
}

function Dependencies(props: { detail: JobDetail }) {
  const d = props.detail;
  return (
    <Section title="Dependencies" testId="dependencies">
      {d.dependencies.length === 0 ? (
        <p class="muted">None: this job waits for no other.</p>
      ) : (
        <table class="grid-table">
          <tbody>
            {d.dependencies.map((x) => (
              <tr key={x.jobId}>
                <td>
                  <Link to={`/jobs/${x.jobId}`}>job {x.jobId}</Link>
                </td>
                <td>{x.state ? <StateBadge state={x.state} /> : <span class="muted">purged</span>}</td>
                <td>{d.waitingOn.includes(x.jobId) ? 'waiting for it' : x.met ? 'met' : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
