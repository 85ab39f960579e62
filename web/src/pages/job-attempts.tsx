import type { GpuUsage } from '../../../src/core/gpu-usage.js';
import type { Attempt, DeviceTelemetry } from '../../../src/core/types.js';
import { Bars, LineChart, type Series } from '../charts.js';
import { Section, StateBadge } from '../components.js';
import { duration, mib, time } from '../format.js';
import { useResource } from '../hooks.js';
import { useSession } from '../session.js';

/** An attempt as GET /v1/jobs/:id answers it, with its GPU accounting (live figures while it runs). */
export type AttemptView = Attempt & { gpuUsage?: GpuUsage[]; idleSince?: number | null };

/** The attempts on one time line: waiting for its start (assigned), then running, colored by how it ended. */
export function AttemptTimeline(props: { attempts: AttemptView[]; now: number }) {
  const { attempts, now } = props;
  const from = Math.min(...attempts.map((a) => a.assignedAt));
  const to = Math.max(...attempts.map((a) => a.endedAt ?? now), from + 1);
  const pos = (t: number) => `${(((t - from) / (to - from)) * 100).toFixed(2)}%`;
  const width = (a: number, b: number) => `${Math.max(0.4, ((b - a) / (to - from)) * 100).toFixed(2)}%`;
  return (
    <>
      <div class="timeline" data-testid="attempt-timeline">
        {attempts.map((a) => {
          const start = a.startedAt ?? a.endedAt ?? now;
          const end = a.endedAt ?? now;
          return (
            <div class="timeline-row" key={a.id}>
              <span class="timeline-label">#{a.number}</span>
              <span class="timeline-track">
                <span class="timeline-wait" style={{ left: pos(a.assignedAt), width: width(a.assignedAt, start) }} title={`assigned ${time(a.assignedAt)}`} />
                {a.startedAt !== null ? <span class={`timeline-run state-${a.state}`} style={{ left: pos(a.startedAt), width: width(a.startedAt, end) }} title={`${a.state}: ${time(a.startedAt)} → ${a.endedAt ? time(a.endedAt) : 'now'}`} /> : null}
              </span>
            </div>
          );
        })}
        <div class="timeline-axis">
          <span>{time(from)}</span>
          <span>{time(to)}</span>
        </div>
      </div>
      <table class="grid-table">
        <thead>
          <tr>
            <th>#</th>
            <th>state</th>
            <th>node</th>
            <th>devices</th>
            <th>started</th>
            <th>ran</th>
            <th>exit</th>
            <th>reason</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((a) => (
            <tr key={a.id} data-testid="attempt-row" data-state={a.state}>
              <td>{a.number}</td>
              <td>
                <StateBadge state={a.state} />
                {a.idleSince ? <span class="badge idle" data-testid="idle-badge" title={`GPUs idle since ${time(a.idleSince)}`}>IDLE</span> : null}
              </td>
              <td>{a.nodeId}</td>
              <td>{a.devices.join(', ') || '—'}</td>
              <td>{time(a.startedAt)}</td>
              <td>{a.startedAt === null ? '—' : duration((a.endedAt ?? props.now) - a.startedAt)}</td>
              <td>{a.exitCode ?? a.signal ?? ''}</td>
              <td class="reason">{a.reason ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

/**
 * GPU accounting of each attempt (attempts[].gpuUsage): mean and peak utilization per device, GPU-seconds,
 * idle time, peak memory; and the latest attempt's devices' utilization over its run, from their telemetry.
 */
export function Accounting(props: { attempts: AttemptView[]; now: number }) {
  const withUsage = props.attempts.filter((a) => (a.gpuUsage?.length ?? 0) > 0);
  const latest = [...props.attempts].reverse().find((a) => a.startedAt !== null && a.devices.length > 0);
  return (
    <Section title="GPU accounting" testId="accounting">
      {withUsage.length === 0 ? <p class="muted">No GPU accounting recorded yet.</p> : null}
      {withUsage.map((a) => {
        const usage = a.gpuUsage!;
        const total = usage.reduce((n, u) => n + u.gpuSeconds, 0);
        const idle = usage.reduce((n, u) => n + u.idleSeconds, 0);
        return (
          <div key={a.id} class="accounting" data-testid="accounting-attempt" data-attempt={a.number}>
            <h3>
              Attempt {a.number}
              {a.endedAt === null ? ' (running: live figures)' : ''} · {total.toFixed(1)} GPU-seconds · idle {idle.toFixed(1)} s
            </h3>
            <Bars
              max={100}
              rows={usage.flatMap((u) => [
                { label: `GPU ${u.device} mean`, value: u.meanUtilizationPct, tone: 's1', text: u.meanUtilizationPct === null ? '—' : `${u.meanUtilizationPct.toFixed(1)} %` },
                { label: `GPU ${u.device} peak`, value: u.peakUtilizationPct, tone: 's4', text: u.peakUtilizationPct === null ? '—' : `${u.peakUtilizationPct.toFixed(0)} %` },
              ])}
            />
            <table class="grid-table compact">
              <thead>
                <tr>
                  <th>GPU</th>
                  <th class="num">GPU-seconds</th>
                  <th class="num">mean util</th>
                  <th class="num">peak util</th>
                  <th class="num">peak memory</th>
                  <th class="num">idle s</th>
                  <th class="num">samples</th>
                </tr>
              </thead>
              <tbody>
                {usage.map((u) => (
                  <tr key={u.device} data-testid="usage-row">
                    <td>{u.device}</td>
                    <td class="num" data-testid="usage-gpu-seconds">
                      {u.gpuSeconds.toFixed(1)}
                    </td>
                    <td class="num">{u.meanUtilizationPct === null ? '—' : `${u.meanUtilizationPct.toFixed(1)} %`}</td>
                    <td class="num">{u.peakUtilizationPct === null ? '—' : `${u.peakUtilizationPct.toFixed(0)} %`}</td>
                    <td class="num">{mib(u.peakMemoryMb)}</td>
                    <td class="num">{u.idleSeconds.toFixed(1)}</td>
                    <td class="num">{u.samples}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      })}
      {latest ? <AttemptTelemetry attempt={latest} now={props.now} /> : null}
    </Section>
  );
}

const TONES = ['s1', 's2', 's3', 's4'];

function AttemptTelemetry(props: { attempt: AttemptView; now: number }) {
  const { client } = useSession();
  const a = props.attempt;
  const start = a.startedAt!;
  const history = useResource(
    () =>
      Promise.all(
        a.devices.map((i) =>
          client
            .request<{ samples: DeviceTelemetry[] }>('GET', `/v1/nodes/${encodeURIComponent(a.nodeId)}/devices/${i}/telemetry?sinceMs=${start}`)
            .then((r) => ({ device: i, samples: r.samples.filter((s) => a.endedAt === null || s.at <= a.endedAt) })),
        ),
      ),
    // Read again when the attempt ends (its last samples), and every half minute of a long run.
    [a.id, a.endedAt, a.endedAt === null ? Math.floor(props.now / 30_000) : 0],
  );
  if (!history.data) return null;
  const series: Series[] = history.data.map((h, k) => ({ label: `GPU ${h.device} util`, tone: TONES[k % TONES.length]!, points: h.samples.map((s) => [s.at, s.utilizationPct]) }));
  return (
    <div data-testid="attempt-telemetry">
      <h3>Attempt {a.number}: utilization over its run</h3>
      <LineChart series={series} from={start} to={a.endedAt ?? props.now} yMax={100} unit="%" />
    </div>
  );
}
