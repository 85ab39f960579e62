import { describe, expect, it } from 'vitest';
import { parseIntakeConfig } from './intake-config.js';

describe('intake config', () => {
  it('fills in defaults and dead-letter names', () => {
    const r = parseIntakeConfig({
      sources: [
        { name: 'orders', kind: 'redis', url: 'redis://127.0.0.1:6379', stream: 'jobs-in' },
        { name: 'batch', kind: 'nats', servers: ['127.0.0.1:4222'], stream: 'JOBS', subject: 'jobs.in' },
      ],
      sinks: [{ name: 'done', kind: 'redis', url: 'redis://127.0.0.1:6379', stream: 'jobs-done' }],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.sources[0]).toMatchObject({ group: 'gpuq', consumer: 'gpuq', field: 'job', deadLetterStream: 'jobs-in.dead', batchSize: 500, blockMs: 500, claimIdleMs: 30_000, maxDeliveries: 5 });
    expect(r.config.sources[1]).toMatchObject({ consumer: 'gpuq', deadLetterSubject: 'JOBS.dead', ackWaitMs: 30_000, maxDeliveries: 5 });
    expect(r.config.sinks[0]).toMatchObject({ jobs: 'intake' });
    expect(Object.isFrozen(r.config) && Object.isFrozen(r.config.sources[0])).toBe(true);
    expect(parseIntakeConfig({})).toEqual({ ok: true, config: { sources: [], sinks: [] } });
  });

  it('names the field of each issue', () => {
    const r = parseIntakeConfig({
      sources: [
        { name: 'orders', kind: 'redis', url: 'http://x', stream: 'jobs-in', maxDeliveries: 0 },
        { name: 'orders', kind: 'nats', servers: [], stream: 'JOBS' },
        { name: 'x', kind: 'kafka' },
      ],
      sinks: [{ name: 'done', kind: 'nats', servers: ['n:4222'], subject: 'jobs.*' }],
      extra: 1,
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const paths = r.issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['sources.0.url', 'sources.0.maxDeliveries', 'sources.1.servers', 'sources.2.kind', 'sinks.0.subject', '']));
    expect(r.issues.find((i) => i.path === 'sources.0.url')?.message).toMatch(/redis:\/\//);
    expect(r.issues.find((i) => i.path === '')?.message).toMatch(/unknown field\(s\) "extra"/);
  });

  it('refuses two sources or sinks of one name', () => {
    const r = parseIntakeConfig({
      sources: [{ name: 'a', kind: 'redis', url: 'redis://h', stream: 's' }],
      sinks: [{ name: 'a', kind: 'redis', url: 'redis://h', stream: 't' }],
    });
    expect(r).toEqual({ ok: false, issues: [{ path: 'sinks.0.name', message: '"a" is taken by sources[0]: every source and sink needs its own name' }] });
  });
});
