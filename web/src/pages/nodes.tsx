import type { NodeView } from '../../../src/sdk/client.js';
import { ActionButton, ErrorNote, Section, Simulated } from '../components.js';
import { ago, mib } from '../format.js';
import { useNow } from '../hooks.js';
import { refusal, useSession } from '../session.js';
import { GpuTile } from './gpu-tiles.js';
import { useFleet, type DeviceKey } from './telemetry.js';

/** Every node: health, admin state (cordon / drain / uncordon), capacity, and its devices with their telemetry history. */
export function NodesPage() {
  const fleet = useFleet();
  const now = useNow(5000);
  return (
    <div class="page nodes">
      <ErrorNote error={fleet.error} what="nodes" />
      {fleet.nodes?.length === 0 ? <p class="muted">No node has registered yet.</p> : null}
      {fleet.nodes?.map((n) => (
        <NodeCard key={n.id} node={n} now={now} fleet={fleet} />
      ))}
    </div>
  );
}

function NodeCard(props: { node: NodeView; now: number; fleet: ReturnType<typeof useFleet> }) {
  const { client, me } = useSession();
  const { node: n, fleet } = props;
  const manage = refusal(me, 'nodes.manage');
  const act = (verb: 'cordon' | 'drain' | 'uncordon') => async () => {
    const r = verb === 'cordon' ? await client.cordonNode(n.id) : verb === 'drain' ? await client.drainNode(n.id) : await client.uncordonNode(n.id);
    fleet.reload();
    return `Node ${n.id}: ${r.node.adminState}${r.node.drained === false ? ` (${r.node.liveAttempts} attempt(s) still running)` : ''}`;
  };
  return (
    <Section
      title={`${n.hostname}${n.hostname !== n.id ? ` (${n.id})` : ''}`}
      testId={`node-${n.id}`}
      actions={
        <>
          <span class={`badge ${n.state === 'up' ? 'state-succeeded' : 'state-failed'}`} data-testid="node-state">
            {n.state}
          </span>
          <span class={`badge admin-${n.adminState}`} data-testid="node-admin">
            {n.adminState}
            {n.drained === true ? ' · drained' : ''}
          </span>
          <ActionButton label="Cordon" testId="node-cordon" refusal={manage} disabledReason={n.adminState === 'cordoned' ? 'already cordoned' : null} run={act('cordon')} />
          <ActionButton label="Drain" testId="node-drain" refusal={manage} disabledReason={n.adminState === 'draining' ? 'already draining' : null} confirm={`Drain ${n.hostname}? No new attempt goes there; the ${n.liveAttempts} running go on until they end.`} run={act('drain')} />
          <ActionButton label="Uncordon" testId="node-uncordon" refusal={manage} disabledReason={n.adminState === 'active' ? 'already active' : null} run={act('uncordon')} />
        </>
      }
    >
      <dl class="facts">
        <dt>CPUs</dt>
        <dd>{n.cpus}</dd>
        <dt>memory</dt>
        <dd>{mib(n.memoryMb)}</dd>
        <dt>host memory available</dt>
        <dd data-testid="node-host-memory">{n.hostMemory === null ? '-' : `${mib(n.hostMemory.availableMb)} of ${mib(n.hostMemory.totalMb)}`}</dd>
        <dt>run slots</dt>
        <dd>{n.maxRunning}</dd>
        <dt>live attempts</dt>
        <dd data-testid="node-live">{n.liveAttempts}</dd>
        <dt>last heartbeat</dt>
        <dd>{ago(n.lastHeartbeatAt, props.now)}</dd>
        <dt>labels</dt>
        <dd>
          {Object.entries(n.labels).map(([k, v]) => (
            <span key={k} class="chip">
              {k}={v}
            </span>
          ))}
        </dd>
      </dl>
      <table class="grid-table compact">
        <thead>
          <tr>
            <th>GPU</th>
            <th>model</th>
            <th>uuid</th>
            <th>PCI</th>
            <th>health</th>
          </tr>
        </thead>
        <tbody>
          {n.devices.map((d) => (
            <tr key={d.index} data-testid="device-row">
              <td>{d.index}</td>
              <td>
                {d.name} {d.simulated ? <Simulated /> : null}
              </td>
              <td class="mono">{d.uuid}</td>
              <td class="mono">{d.pciBusId ?? '—'}</td>
              <td>{d.healthy ? <span class="badge state-succeeded">healthy</span> : <span class="badge state-failed">unhealthy</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="gpu-grid big">
        {n.devices.map((d) => (
          <GpuTile key={d.index} node={n} device={d} samples={fleet.series.get(`${n.id}/${d.index}` as DeviceKey) ?? []} holder={d.heldBy ? (fleet.attempts.get(d.heldBy.attemptId) ?? null) : null} now={props.now} big />
        ))}
      </div>
    </Section>
  );
}
