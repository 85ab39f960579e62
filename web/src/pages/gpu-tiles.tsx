import type { DeviceTelemetry } from '../../../src/core/types.js';
import type { NodeView } from '../../../src/sdk/client.js';
import { LineChart } from '../charts.js';
import { ErrorNote, Link, Section, Simulated } from '../components.js';
import { mib, pct } from '../format.js';
import { useNow } from '../hooks.js';
import { useFleet, WINDOW_MS, type AttemptIdle, type DeviceKey } from './telemetry.js';

/** A tile per GPU of every node: utilization, memory and temperature over the last half hour, the job on it, idle flags. */
export function GpuTiles() {
  const fleet = useFleet();
  const now = useNow(5000);
  const nodes = fleet.nodes;
  const devices = nodes ? nodes.reduce((n, node) => n + node.devices.length, 0) : 0;
  return (
    <Section title={`GPUs${nodes ? ` · ${devices} on ${nodes.length} node${nodes.length === 1 ? '' : 's'}` : ''}`} testId="gpus">
      <ErrorNote error={fleet.error} what="nodes" />
      {nodes && devices === 0 ? <p class="muted">No GPU is registered (a node without GPUs runs CPU jobs only).</p> : null}
      <div class="gpu-grid">
        {nodes?.flatMap((n) => n.devices.map((d) => <GpuTile key={`${n.id}/${d.index}`} node={n} device={d} samples={fleet.series.get(`${n.id}/${d.index}` as DeviceKey) ?? []} holder={d.heldBy ? (fleet.attempts.get(d.heldBy.attemptId) ?? null) : null} now={now} />))}
      </div>
    </Section>
  );
}

export function GpuTile(props: { node: NodeView; device: NodeView['devices'][number]; samples: DeviceTelemetry[]; holder: AttemptIdle | null; now: number; big?: boolean }) {
  const { node, device: d, samples, holder } = props;
  const t = d.telemetry;
  // The last half hour, or since the first sample when the device is younger than that.
  const from = Math.max(props.now - WINDOW_MS, Math.min(samples[0]?.at ?? props.now, props.now - 60_000));
  const down = node.state !== 'up';
  return (
    <article class={`gpu-tile${down ? ' down' : ''}${d.heldBy ? ' busy' : ''}`} data-testid="gpu-tile" data-node={node.id} data-device={d.index} data-busy={d.heldBy ? 'true' : 'false'}>
      <header>
        <span class="gpu-name">
          {node.hostname} · GPU {d.index}
        </span>
        {d.simulated ? <Simulated /> : null}
        {!d.healthy ? <span class="badge state-failed">unhealthy</span> : null}
        {down ? <span class="badge state-failed">node down</span> : null}
        {node.adminState !== 'active' ? <span class="badge state-cancelled">{node.adminState}</span> : null}
      </header>
      <div class="gpu-model muted">{d.name}</div>
      <div class="gpu-now">
        <span title="utilization">{pct(t?.utilizationPct)}</span>
        <span title="memory used">
          {mib(t?.memoryUsedMb)} / {mib(d.memoryTotalMb)}
        </span>
        <span title="temperature">{t?.temperatureC === null || t?.temperatureC === undefined ? '—' : `${t.temperatureC} °C`}</span>
      </div>
      <LineChart series={[{ label: 'util', tone: 's1', points: samples.map((s) => [s.at, s.utilizationPct]) }]} from={from} to={props.now} yMax={100} unit="%" height={props.big ? 90 : 48} />
      <LineChart series={[{ label: 'mem', tone: 's2', points: samples.map((s) => [s.at, s.memoryUsedMb === null ? null : (s.memoryUsedMb / d.memoryTotalMb) * 100]) }]} from={from} to={props.now} yMax={100} unit="%" height={props.big ? 90 : 48} />
      <LineChart series={[{ label: 'temp', tone: 's3', points: samples.map((s) => [s.at, s.temperatureC]) }]} from={from} to={props.now} yMax={100} unit="°C" height={props.big ? 90 : 48} />
      <footer class="gpu-job" data-testid="gpu-job">
        {d.heldBy ? (
          <>
            <Link to={`/jobs/${d.heldBy.jobId}`}>
              job {d.heldBy.jobId}
              {holder ? ` · ${holder.name}` : ''}
            </Link>
            {holder?.idle ? (
              <span class="badge idle" data-testid="idle-badge" title="every GPU of this attempt has stayed under the idle utilization for the idle time (gpuq up --idle-utilization-pct, --idle-minutes)">
                IDLE
              </span>
            ) : null}
          </>
        ) : (
          <span class="muted">free</span>
        )}
      </footer>
    </article>
  );
}
