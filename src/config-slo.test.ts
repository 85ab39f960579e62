import { describe, expect, it } from 'vitest';
import { loadServerConfig, sloThresholds } from './config.js';
import { DEFAULT_SLO_THRESHOLDS } from './core/slo-report.js';

/** `gpuq up --slo-*`: the SLO report's objectives. */
describe('server config: SLO objectives', () => {
  it('defaults to success ≥ 98 %, queue wait p95 ≤ 5 min, GPU utilization 70–90 %', () => {
    expect(sloThresholds(loadServerConfig({}, {}))).toEqual({ successPct: 98, queueWaitP95Seconds: 300, gpuUtilizationMinPct: 70, gpuUtilizationMaxPct: 90 });
    expect(sloThresholds(loadServerConfig({}, {}))).toEqual(DEFAULT_SLO_THRESHOLDS);
  });

  it('takes each objective from its option', () => {
    const config = loadServerConfig({ sloSuccessPct: 99.5, sloQueueWaitP95Seconds: 60, sloGpuUtilizationMinPct: 50, sloGpuUtilizationMaxPct: 95 }, {});
    expect(sloThresholds(config)).toEqual({ successPct: 99.5, queueWaitP95Seconds: 60, gpuUtilizationMinPct: 50, gpuUtilizationMaxPct: 95 });
  });

  it('refuses objectives that cannot be met, naming the option', () => {
    expect(() => loadServerConfig({ sloSuccessPct: 101 }, {})).toThrow(/sloSuccessPct/);
    expect(() => loadServerConfig({ sloQueueWaitP95Seconds: -1 }, {})).toThrow(/sloQueueWaitP95Seconds/);
    expect(() => loadServerConfig({ sloGpuUtilizationMinPct: 80, sloGpuUtilizationMaxPct: 60 }, {})).toThrow(/sloGpuUtilizationMinPct: must be at most sloGpuUtilizationMaxPct \(60\)/);
  });
});
