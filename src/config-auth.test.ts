import { describe, expect, it } from 'vitest';
import { clientToken, isLoopbackHost, loadServerConfig } from './config.js';

/** `gpuq up --auth`: tokens are required off loopback, and may be turned off only on it. */
describe('server config: auth', () => {
  it('defaults to off on loopback hosts and to required on any other', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) expect(loadServerConfig({ host }, {}).auth, host).toBe('off');
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gpu-box.example']) expect(loadServerConfig({ host }, {}).auth, host).toBe('required');
    expect(loadServerConfig({}, {}).auth).toBe('off');
  });

  it('takes --auth or GPUQ_AUTH, and may require tokens on loopback too', () => {
    expect(loadServerConfig({ auth: 'required' }, {}).auth).toBe('required');
    expect(loadServerConfig({}, { GPUQ_AUTH: 'required' }).auth).toBe('required');
    expect(() => loadServerConfig({ auth: 'maybe' as never }, {})).toThrow(/auth/);
  });

  it('refuses auth off on a host others can reach, saying what to do', () => {
    expect(() => loadServerConfig({ host: '0.0.0.0', auth: 'off' }, {})).toThrow(/auth: "off" is refused when listening on 0\.0\.0\.0.*--auth required/);
    expect(() => loadServerConfig({}, { GPUQ_HOST: '192.168.1.2', GPUQ_AUTH: 'off' })).toThrow(/refused/);
  });

  it('knows loopback addresses', () => {
    expect(isLoopbackHost('127.0.0.1')).toBe(true);
    expect(isLoopbackHost('[::1]')).toBe(true);
    expect(isLoopbackHost('127.0.0.1.example.com')).toBe(false);
    expect(isLoopbackHost('0.0.0.0')).toBe(false);
  });

  it('finds the CLI\'s token in --token, then GPUQ_TOKEN', () => {
    expect(clientToken('a', { GPUQ_TOKEN: 'b' })).toBe('a');
    expect(clientToken(undefined, { GPUQ_TOKEN: 'b' })).toBe('b');
    expect(clientToken(undefined, { GPUQ_TOKEN: '' })).toBeUndefined();
    expect(clientToken(undefined, {})).toBeUndefined();
  });
});
