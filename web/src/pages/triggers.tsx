import { useEffect, useRef, useState } from 'preact/hooks';
import type { Schedule, Trigger } from '../../../src/sdk/pipelines-client.js';
import { ActionButton, ErrorNote, Link, Section, StateBadge } from '../components.js';
import { ago, time } from '../format.js';
import { useInterval, useNow, useRefetchOn, useResource } from '../hooks.js';
import { refusal, useSession } from '../session.js';

/**
 * How often triggers and schedules are read again while the page shows. Neither has an event in the feed: a
 * schedule's fires move its last fire, and another operator's pause or resume changes what is shown, so they are
 * read on a timer (one small read each); an action taken here reads again at once.
 */
const REFRESH_MS = 5000;

/** What starts pipeline runs without a person (ADR 0018): directory triggers and cron schedules, each paused and resumed here. */
export function TriggersPage() {
  return (
    <div class="page triggers">
      <TriggersSection />
      <SchedulesSection />
    </div>
  );
}

function TriggersSection() {
  const { client, me } = useSession();
  const list = useResource(() => client.listTriggers(), []);
  useRefetchOn(() => false, list.reload);
  useInterval(list.reload, REFRESH_MS);
  const now = useNow(60_000);
  const triggers = list.data?.triggers;
  const why = refusal(me, 'pipelines.manage');
  return (
    <Section title="Directory triggers" testId="triggers">
      <p class="hint">
        Each complete file landing in a trigger's directory starts one run of its pipeline. A file whose run failed is moved to <code>failed/</code> in that directory
        (with <code>NAME.reason.txt</code>); put it back with <code>gpuq trigger retry TRIGGER FILE</code>.
      </p>
      <ErrorNote error={list.error} what="triggers" />
      {!triggers ? (
        list.error ? null : <p class="muted">Loading…</p>
      ) : triggers.length === 0 ? (
        <p class="muted" data-testid="triggers-empty">
          No trigger. Create one with <code>gpuq trigger create -f trigger.yaml</code>.
        </p>
      ) : (
        <table class="grid-table" data-testid="triggers-table">
          <thead>
            <tr>
              <th>name</th>
              <th>pipeline</th>
              <th>directory</th>
              <th title="when a file counts as complete">completion</th>
              <th>state</th>
              <th>created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {triggers.map((t) => (
              <tr key={t.name} data-testid="trigger-row" data-trigger={t.name} data-paused={String(t.paused)}>
                <td class="name">{t.name}</td>
                <td>
                  <Link to={`/pipelines?pipeline=${encodeURIComponent(t.spec.pipeline)}`}>{t.spec.pipeline}</Link>
                </td>
                <td class="mono" title={`listed every ${t.spec.pollMs} ms; never taken: ${t.spec.ignore.join(' ')}`}>
                  {t.spec.directory}
                </td>
                <td data-testid="trigger-completion">{completion(t)}</td>
                <td>
                  <StateBadge state={t.paused ? 'paused' : 'watching'} />
                </td>
                <td>{ago(t.createdAt, now)}</td>
                <td>
                  <PauseButton kind="trigger" name={t.name} paused={t.paused} refusal={why} set={(paused) => client.setTriggersPaused([t.name], paused)} after={list.reload} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** When a trigger takes a file, in words. */
function completion(t: Trigger): string {
  const c = t.spec.complete;
  if (c.mode === 'settle') return `settle: unchanged for ${c.settleMs} ms`;
  if (c.mode === 'marker') return `marker: NAME${c.suffix} beside it`;
  return 'rename: at once';
}

function PauseButton(props: { kind: 'trigger' | 'schedule'; name: string; paused: boolean; refusal: string | null; set: (paused: boolean) => Promise<unknown>; after: () => void }) {
  const { kind, name, paused } = props;
  return (
    <ActionButton
      label={paused ? 'Resume' : 'Pause'}
      tone={paused ? 'primary' : undefined}
      testId={paused ? `${kind}-resume` : `${kind}-pause`}
      refusal={props.refusal}
      run={async () => {
        await props.set(!paused);
        props.after();
        return `${kind === 'trigger' ? 'Trigger' : 'Schedule'} ${name} ${paused ? 'resumed' : 'paused'}`;
      }}
    />
  );
}

function SchedulesSection() {
  const { client, me } = useSession();
  const list = useResource(() => client.listSchedules(), []);
  useRefetchOn(() => false, list.reload);
  useInterval(list.reload, REFRESH_MS);
  const now = useNow(5000);
  const [open, setOpen] = useState<string | null>(null);
  const schedules = list.data?.schedules;
  const why = refusal(me, 'pipelines.manage');
  return (
    <Section title="Schedules" testId="schedules">
      <p class="hint">Cron times are UTC. Missed times (gpuq down, a drain) fire by the schedule's policy: once, skip or all.</p>
      <ErrorNote error={list.error} what="schedules" />
      {!schedules ? (
        list.error ? null : <p class="muted">Loading…</p>
      ) : schedules.length === 0 ? (
        <p class="muted" data-testid="schedules-empty">
          No schedule. Create one with <code>gpuq schedule create -f schedule.yaml</code>.
        </p>
      ) : (
        <table class="grid-table" data-testid="schedules-table">
          <thead>
            <tr>
              <th>name</th>
              <th>cron (UTC)</th>
              <th>target</th>
              <th title="what happens to times no leader fired">missed</th>
              <th>state</th>
              <th>last fire</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {schedules.map((s) => (
              <ScheduleRows key={s.name} schedule={s} now={now} open={open === s.name} toggle={() => setOpen(open === s.name ? null : s.name)} refusal={why} after={list.reload} />
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function ScheduleRows(props: { schedule: Schedule; now: number; open: boolean; toggle: () => void; refusal: string | null; after: () => void }) {
  const { client } = useSession();
  const s = props.schedule;
  const t = s.spec.target;
  return (
    <>
      <tr data-testid="schedule-row" data-schedule={s.name} data-paused={String(s.paused)}>
        <td class="name">{s.name}</td>
        <td class="mono" data-testid="schedule-cron">
          {s.spec.cron}
        </td>
        <td data-testid="schedule-target">
          {'pipeline' in t ? (
            <>
              pipeline <Link to={`/pipelines?pipeline=${encodeURIComponent(t.pipeline)}`}>{t.pipeline}</Link>
            </>
          ) : (
            `job ${t.job.name || '(unnamed)'} in queue ${t.job.queue}`
          )}
        </td>
        <td>{s.spec.missed}</td>
        <td>
          <StateBadge state={s.paused ? 'paused' : 'scheduled'} />
        </td>
        <td data-testid="schedule-last-fire" title={s.lastFireAt === null ? undefined : time(s.lastFireAt)}>
          {s.lastFireAt === null ? <span class="muted">never</span> : ago(s.lastFireAt, props.now)}
        </td>
        <td class="row-actions">
          <button type="button" class="btn" aria-expanded={props.open} data-testid="schedule-fires-toggle" onClick={props.toggle}>
            {props.open ? 'Hide fires' : 'Latest fires'}
          </button>
          <PauseButton kind="schedule" name={s.name} paused={s.paused} refusal={props.refusal} set={(paused) => client.setSchedulesPaused([s.name], paused)} after={props.after} />
        </td>
      </tr>
      {props.open ? (
        <tr class="detail-row">
          <td colSpan={7}>
            <Fires name={s.name} lastFireAt={s.lastFireAt} />
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** A schedule's latest fires (GET /v1/schedules/NAME), newest first, each with what it started; read again when the last fire moves. */
function Fires(props: { name: string; lastFireAt: number | null }) {
  const { client } = useSession();
  const detail = useResource(() => client.getSchedule(props.name), [props.name]);
  // A new fire moves the schedule's last fire (read on the list's timer): read the fires again, keeping these meanwhile.
  const { reload } = detail;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) first.current = false;
    else reload();
  }, [props.lastFireAt, reload]);
  const fires = detail.data?.fires;
  return (
    <div data-testid="schedule-fires" data-schedule={props.name}>
      <ErrorNote error={detail.error} what={`fires of ${props.name}`} />
      {!fires ? (
        detail.error ? null : <p class="muted">Loading…</p>
      ) : fires.length === 0 ? (
        <p class="muted" data-testid="fires-empty">
          Not fired yet.
        </p>
      ) : (
        <table class="grid-table compact">
          <tbody>
            {fires.map((f) => (
              <tr key={f.fireAt} data-testid="fire-row" data-fire-at={f.fireAt}>
                <td>{time(f.fireAt)}</td>
                <td>
                  {f.runId !== null ? (
                    <Link to={`/pipeline-runs/${f.runId}`} testId="fire-run">
                      run {f.runId}
                    </Link>
                  ) : f.jobId !== null ? (
                    <Link to={`/jobs/${f.jobId}`} testId="fire-job">
                      job {f.jobId}
                    </Link>
                  ) : (
                    <span class="muted">nothing started</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
