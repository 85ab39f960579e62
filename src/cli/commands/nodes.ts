import type { Command } from 'commander';
import { clientFor, commonOptions, runAction, type CommandDef, type CommonOptions } from '../command.js';
import { ago, printJson, printLine, table } from '../output.js';

export const nodesCommand: CommandDef = {
  name: 'nodes',
  summary: 'List nodes (up/down, active/cordoned/draining) and their GPUs with live telemetry (simulated GPUs are marked)',
  example: 'gpuq nodes\ngpuq nodes --json',
  register(cmd: Command) {
    commonOptions(cmd).action((o: CommonOptions) =>
      runAction(async () => {
        const { nodes } = await clientFor(o).nodes();
        if (o.json) return printJson({ nodes });
        for (const n of nodes) {
          const admin = n.adminState === 'draining' ? `draining (${n.drained ? 'drained' : `${n.liveAttempts} live`})` : n.adminState;
          const host = n.hostMemory === null ? '' : `  host memory ${n.hostMemory.availableMb}/${n.hostMemory.totalMb} MiB available`;
          printLine(`${n.id}  ${n.state}  ${admin}  heartbeat ${ago(n.lastHeartbeatAt)} ago  cpus ${n.cpus}  memory ${n.memoryMb} MiB${host}  max running ${n.maxRunning}  gpus ${n.devices.length}`);
          if (n.devices.length === 0) continue;
          const pct = (v: number | null | undefined, unit: string) => (v === null || v === undefined ? '-' : `${v}${unit}`);
          printLine(table(
            ['  GPU', 'NAME', 'MEMORY', 'UTIL', 'TEMP', 'ECC(unc)', 'HEALTH', 'JOB'],
            n.devices.map((d) => [
              `  ${d.index}`,
              d.simulated ? `${d.name} [SIMULATED]` : d.name,
              `${pct(d.telemetry?.memoryUsedMb, '')}/${d.memoryTotalMb} MiB`,
              pct(d.telemetry?.utilizationPct, '%'),
              pct(d.telemetry?.temperatureC, '°C'),
              pct(d.telemetry?.eccUncorrected, ''),
              d.healthy ? 'ok' : 'UNHEALTHY',
              d.heldBy ? String(d.heldBy.jobId) : '-',
            ]),
          ));
        }
      }),
    );
  },
};
