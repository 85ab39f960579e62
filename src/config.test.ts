import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, defaultMaxRunning, loadServerConfig, serverUrl } from './config.js';
import { ValidationError } from './core/errors.js';

describe('server config', () => {
  it('fills defaults and resolves the data dir', () => {
    const c = loadServerConfig({}, {});
    expect(c).toMatchObject({ host: '127.0.0.1', port: DEFAULT_PORT, fakeGpus: 0, durability: 'normal', retentionDays: 7 });
    expect(c.dataDir).toBe(path.resolve('.gpuq'));
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('takes GPUQ_* variables, and explicit options over them', () => {
    const env = { GPUQ_PORT: '9000', GPUQ_FAKE_GPUS: '2', GPUQ_DATA_DIR: '/var/lib/gpuq', GPUQ_DURABILITY: 'strict' };
    expect(loadServerConfig({}, env)).toMatchObject({ port: 9000, fakeGpus: 2, dataDir: '/var/lib/gpuq', durability: 'strict' });
    expect(loadServerConfig({ port: 7000, fakeGpus: undefined }, env)).toMatchObject({ port: 7000, fakeGpus: 2 });
  });

  it('names the option and the rule when a value is bad', () => {
    expect(() => loadServerConfig({ port: 70000 }, {})).toThrow(ValidationError);
    expect(() => loadServerConfig({}, { GPUQ_DURABILITY: 'sometimes' })).toThrow(/durability/);
    expect(() => loadServerConfig({ fakeGpus: -1 }, {})).toThrow(/fakeGpus/);
  });

  it('takes a PostgreSQL URL from --database-url or GPUQ_DATABASE_URL, and refuses anything else naming the flag', () => {
    expect(loadServerConfig({}, {}).databaseUrl).toBeUndefined();
    expect(loadServerConfig({}, { GPUQ_DATABASE_URL: 'postgres://gpuq@db:5432/gpuq' }).databaseUrl).toBe('postgres://gpuq@db:5432/gpuq');
    expect(loadServerConfig({ databaseUrl: 'postgresql://a:b@c/d' }, { GPUQ_DATABASE_URL: 'postgres://x/y' }).databaseUrl).toBe('postgresql://a:b@c/d');
    expect(() => loadServerConfig({ databaseUrl: 'mysql://db/gpuq' }, {})).toThrow(/databaseUrl: .*--database-url/);
    expect(() => loadServerConfig({}, { GPUQ_DATABASE_URL: 'db:5432' })).toThrow(/GPUQ_DATABASE_URL/);
  });

  it('finds the server from --url, then GPUQ_URL, then GPUQ_PORT', () => {
    expect(serverUrl('http://a:1', { GPUQ_URL: 'http://b:2' })).toBe('http://a:1');
    expect(serverUrl(undefined, { GPUQ_URL: 'http://b:2' })).toBe('http://b:2');
    expect(serverUrl(undefined, { GPUQ_PORT: '9' })).toBe('http://127.0.0.1:9');
    expect(serverUrl(undefined, {})).toBe(`http://127.0.0.1:${DEFAULT_PORT}`);
  });
});

describe('defaultMaxRunning', () => {
  it('gives max(32, 8 × cores) run slots plus one per GPU', () => {
    expect(defaultMaxRunning(0, 2)).toBe(32);
    expect(defaultMaxRunning(8, 2)).toBe(40);
    expect(defaultMaxRunning(0, 16)).toBe(128);
    expect(defaultMaxRunning(4, 16)).toBe(132);
  });
});
