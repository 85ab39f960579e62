import os from 'node:os';
import type { DeviceSource } from './devices/discovery.js';
import type { AttemptLauncher } from './launcher/protocol.js';
import type { AgentOptions } from './local-agent.js';

/** What `gpuq up` (its local agent) and `gpuq agent` configure alike, in their configs' units. */
export interface AgentSettings {
  nodeName: string;
  cpus: number;
  memoryMb: number;
  dataDir: string;
  heartbeatSeconds: number;
  telemetrySeconds: number;
  logCapMb: number;
  killGraceSeconds: number;
}

/** LocalAgent's options from those settings, the discovered devices and the launcher. */
export function agentOptions(s: AgentSettings, extra: { labels: Record<string, string>; maxRunning: number; devices: DeviceSource; launcher: AttemptLauncher; apiUrls: () => readonly string[] }): AgentOptions {
  return {
    nodeId: s.nodeName,
    hostname: os.hostname(),
    labels: extra.labels,
    cpus: s.cpus,
    memoryMb: s.memoryMb,
    maxRunning: extra.maxRunning,
    dataDir: s.dataDir,
    heartbeatMs: s.heartbeatSeconds * 1000,
    telemetryMs: s.telemetrySeconds * 1000,
    logCapBytes: Math.round(s.logCapMb * 1048576),
    killGraceMs: s.killGraceSeconds * 1000,
    devices: extra.devices,
    launcher: extra.launcher,
    apiUrls: extra.apiUrls,
  };
}
