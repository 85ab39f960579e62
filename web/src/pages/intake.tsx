import type { IntakeSinkStatus, IntakeSourceStatus, IntakeView } from '../../../src/sdk/intake-client.js';
import { isNotFound } from '../api.js';
import { ActionButton, ErrorNote, Section, StateBadge } from '../components.js';
import { count } from '../format.js';
import { useInterval, useRefetchOn, useResource } from '../hooks.js';
import { refusal, useSession } from '../session.js';

/**
 * How often the intake view is read while the page shows. Messages are not in the event feed one by one (a
 * source takes thousands a second), so its counts, pending and lag are read on a timer; a pause or resume made
 * here is read again at once, and a drain (a `maintenance` event, which stops every source) too.
 */
const INTAKE_REFRESH_MS = 2000;

/**
 * Broker intake (ADR 0017): each source (Redis Streams, NATS JetStream) with its state and counts and its own
 * pause/resume, the result sinks, and the emergency stop of every source. A server with no intake configured
 * (no source, no sink; or 404 NOT_FOUND "this server runs no broker intake") is said so plainly, not as an error.
 */
export function IntakePage() {
  const { client, me } = useSession();
  const view = useResource(() => client.intake.view(), []);
  const v = view.data;
  // No intake here: a server built without an intake service answers 404 NOT_FOUND; `gpuq up` without
  // --intake-config answers a view with no source and no sink. Either way nothing moves (the config is read at start).
  const none = isNotFound(view.error) || (v !== undefined && v.sources.length === 0 && v.sinks.length === 0);
  useRefetchOn((e) => e.type === 'maintenance', view.reload, 100);
  useInterval(() => !none && view.reload(), INTAKE_REFRESH_MS);
  const why = refusal(me, 'intake.manage');

  if (none) {
    return (
      <div class="page intake">
        <Section title="Broker intake" testId="intake">
          <p class="muted" data-testid="intake-none">
            This server runs no broker intake. Producers on Redis Streams or NATS JetStream can hand gpuq jobs once it is started with <code>gpuq up --intake-config FILE</code> (see
            docs/operations.md, "Broker intake").
          </p>
        </Section>
      </div>
    );
  }
  return (
    <div class="page intake">
      <Section
        title="Broker intake"
        testId="intake"
        actions={
          v?.paused.all ? (
            <ActionButton
              label="Resume all intake"
              tone="primary"
              testId="resume-all-intake"
              refusal={why}
              confirm="Resume every source? The emergency stop and every source's own pause are cleared; sources consume from where they stopped."
              run={async () => {
                await client.intake.setPaused('all', false);
                view.reload();
                return 'Intake resumed: every source consumes again';
              }}
            />
          ) : (
            <ActionButton
              label="Stop all intake"
              tone="danger"
              testId="stop-all-intake"
              refusal={why}
              disabledReason={v === undefined ? 'loading' : v.sources.length === 0 ? 'no source is configured' : null}
              confirm="Stop all intake now? Every source stops consuming within a second (durable across restarts, audited); messages wait in the broker until intake is resumed."
              run={async () => {
                await client.intake.setPaused('all', true);
                view.reload();
                return 'Intake stopped: no source consumes';
              }}
            />
          )
        }
      >
        <ErrorNote error={view.error} what="intake" />
        {v ? (
          <>
            <p class="mode-line" data-testid="intake-status" data-all-paused={String(v.paused.all)}>
              {statusLine(v)}
            </p>
            <Sources view={v} refusal={why} reload={view.reload} />
          </>
        ) : view.error ? null : (
          <p class="muted">Loading…</p>
        )}
      </Section>
      {v && v.sinks.length > 0 ? <Sinks sinks={v.sinks} /> : null}
    </div>
  );
}

function statusLine(v: IntakeView): string {
  const parts = [v.paused.all ? 'Every source is stopped (emergency stop).' : v.paused.sources.length === 0 ? 'No source is paused.' : `Paused: ${v.paused.sources.join(', ')}.`];
  if (v.draining) parts.push('The cluster drains (maintenance mode), which stops every source while it lasts.');
  if (!v.leader) parts.push('This server does not lead: its sources stand by (the leader consumes; the pause state is shared).');
  return parts.join(' ');
}

function Sources(props: { view: IntakeView; refusal: string | null; reload: () => void }) {
  const { client } = useSession();
  const { view: v } = props;
  if (v.sources.length === 0) return <p class="muted">No source is configured; only result sinks.</p>;
  return (
    <table class="grid-table" data-testid="intake-sources">
      <thead>
        <tr>
          <th>source</th>
          <th>kind</th>
          <th>state</th>
          <th>from</th>
          <th class="num">received</th>
          <th class="num">acked</th>
          <th class="num" title="malformed or refused for good: sent to the dead-letter stream or subject">dead-lettered</th>
          <th class="num" title="delivered, not yet acknowledged">pending</th>
          <th class="num" title="in the stream, not yet delivered">lag</th>
          <th>paused</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {v.sources.map((s) => {
          const own = v.paused.sources.includes(s.name);
          return (
            <tr key={s.name} data-testid="intake-source" data-source={s.name} data-state={s.state} data-paused={String(own)}>
              <td class="name">{s.name}</td>
              <td>{s.kind}</td>
              <td>
                <StateBadge state={s.state} />
                {s.lastError ? (
                  <div class="reason" data-testid="source-error">
                    {s.lastError}
                  </div>
                ) : null}
              </td>
              <td class="mono" title={`dead letters: ${s.deadLetter}`}>
                {s.from}
              </td>
              <td class="num" data-testid="source-received">
                {count(s.received)}
              </td>
              <td class="num">{count(s.acked)}</td>
              <td class="num">{s.deadLettered > 0 ? <span class="bad-figure">{count(s.deadLettered)}</span> : '0'}</td>
              <td class="num">{figure(s.pending)}</td>
              <td class="num">{figure(s.lag)}</td>
              <td data-testid="source-paused">{pausedBy(v, s)}</td>
              <td>
                <ActionButton
                  label={own ? 'Resume' : 'Pause'}
                  tone={own ? 'primary' : undefined}
                  testId={own ? 'source-resume' : 'source-pause'}
                  refusal={props.refusal}
                  run={async () => {
                    await client.intake.setPaused([s.name], !own);
                    props.reload();
                    return `Source ${s.name} ${own ? 'resumed' : 'paused'}`;
                  }}
                />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** What holds a source back, if anything: its own pause, the emergency stop, a drain. */
function pausedBy(v: IntakeView, s: IntakeSourceStatus): string {
  const by: string[] = [];
  if (v.paused.sources.includes(s.name)) by.push('its own pause');
  if (v.paused.all) by.push('the emergency stop');
  if (v.draining) by.push('the drain');
  return by.length === 0 ? 'no' : `yes: ${by.join(', ')}`;
}

const figure = (n: number | null) => (n === null ? '—' : count(n));

function Sinks(props: { sinks: IntakeSinkStatus[] }) {
  return (
    <Section title="Result sinks" testId="intake-sinks">
      <p class="hint">Each publishes the final state of jobs (succeeded, failed, cancelled) from the event feed, at least once, to its stream or subject.</p>
      <table class="grid-table" data-testid="intake-sink-table">
        <thead>
          <tr>
            <th>sink</th>
            <th>kind</th>
            <th>to</th>
            <th title="intake: only jobs from a source; all: every job">jobs</th>
            <th class="num">published</th>
            <th class="num" title="the last event feed id it published">cursor</th>
            <th>last error</th>
          </tr>
        </thead>
        <tbody>
          {props.sinks.map((s) => (
            <tr key={s.name} data-testid="intake-sink" data-sink={s.name}>
              <td class="name">
                {s.name}
                {s.running ? null : <span class="muted"> (stands by)</span>}
              </td>
              <td>{s.kind}</td>
              <td class="mono">{s.to}</td>
              <td>{s.jobs}</td>
              <td class="num">{count(s.published)}</td>
              <td class="num">{figure(s.cursor)}</td>
              <td class="reason">{s.lastError ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}
