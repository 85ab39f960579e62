import { describe, expect, it } from 'vitest';
import { loadAgentConfig, loadServerConfig } from './config.js';

/** `gpuq agent`'s options, and `gpuq up --no-agent`. */
describe('agent config', () => {
  it('takes the control plane as one URL, several, or a comma-separated list, from --server or GPUQ_SERVER', () => {
    expect(loadAgentConfig({ servers: 'http://cp-1:7420/' }, {}).servers).toEqual(['http://cp-1:7420']);
    expect(loadAgentConfig({ servers: ['http://cp-1:7420', 'http://cp-2:7420,https://cp-3'] }, {}).servers).toEqual(['http://cp-1:7420', 'http://cp-2:7420', 'https://cp-3']);
    expect(loadAgentConfig({}, { GPUQ_SERVER: 'http://cp:7420', GPUQ_TOKEN: 'gpuq_x' })).toMatchObject({ servers: ['http://cp:7420'], token: 'gpuq_x' });
    expect(() => loadAgentConfig({}, {})).toThrow(/servers: give the control plane's URL with --server/);
    expect(() => loadAgentConfig({ servers: 'cp-1:7420' }, {})).toThrow(/servers\.0: must be an http\(s\) URL/);
  });

  it('parses --listen as HOST:PORT (IPv6 in brackets), 127.0.0.1 on any free port by default', () => {
    const base = { servers: 'http://cp:7420' };
    expect(loadAgentConfig(base, {}).listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(loadAgentConfig({ ...base, listen: '0.0.0.0:7421' }, {}).listen).toEqual({ host: '0.0.0.0', port: 7421 });
    expect(loadAgentConfig({ ...base, listen: '[::1]:7421' }, {}).listen).toEqual({ host: '::1', port: 7421 });
    expect(() => loadAgentConfig({ ...base, listen: '7421' }, {})).toThrow(/listen: must be HOST:PORT/);
    expect(() => loadAgentConfig({ ...base, listen: 'h:70000' }, {})).toThrow(/listen: the port must be at most 65535/);
  });

  it('has defaults for a node of its own: a 60 s grace period, its own data directory, labels', () => {
    const c = loadAgentConfig({ servers: 'http://cp:7420', labels: { zone: 'eu' }, nodeName: 'gpu-01' }, {});
    expect(c).toMatchObject({ nodeName: 'gpu-01', labels: { zone: 'eu' }, graceSeconds: 60, heartbeatSeconds: 2, fakeGpus: 0 });
    expect(c.dataDir).toMatch(/\.gpuq-agent$/);
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => loadAgentConfig({ servers: 'http://cp:7420', nodeName: '-x' }, {})).toThrow(/nodeName/);
  });

  it('gpuq up runs a local agent unless told not to', () => {
    expect(loadServerConfig({}, {}).agent).toBe(true);
    expect(loadServerConfig({ agent: false }, {}).agent).toBe(false);
  });
});
