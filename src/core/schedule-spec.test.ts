import { describe, expect, it } from 'vitest';
import { dueFires, fireJobKey, MAX_CATCH_UP, parseScheduleSpec } from './schedule-spec.js';

const at = (iso: string) => Date.parse(iso);
const issuesOf = (input: unknown) => {
  try {
    parseScheduleSpec(input);
  } catch (e) {
    return (e as { issues: { path: string; message: string }[] }).issues;
  }
  throw new Error('parsed');
};

describe('parseScheduleSpec', () => {
  it('fills in the defaults and parses a job template', () => {
    const s = parseScheduleSpec({ name: 'nightly', cron: ' 0  3 * * * ', target: { job: { command: ['echo', 'hi'] } } });
    expect(s.missed).toBe('once');
    expect(s.cron).toBe('0 3 * * *');
    expect('job' in s.target && s.target.job.command).toEqual(['echo', 'hi']);
    expect(parseScheduleSpec({ name: 'p', cron: '*/2 * * * * *', target: { pipeline: 'etl' }, missed: 'all' }).target).toEqual({ pipeline: 'etl' });
  });

  it('names the field broken', () => {
    expect(issuesOf({ name: 'a', cron: '61 * * * *', target: { pipeline: 'etl' } }).map((i) => i.path)).toEqual(['cron']);
    expect(issuesOf({ name: 'a', cron: '* * *', target: { pipeline: 'etl' } })[0]!.message).toMatch(/5 fields/);
    expect(issuesOf({ name: 'a', cron: '0 0 0 1 1 * 2030', target: { pipeline: 'etl' } })[0]!.path).toBe('cron');
    expect([...new Set(issuesOf({ name: 'a', cron: '* * * * *', target: { job: { command: [] } } }).map((i) => i.path))]).toEqual(['target.job.command']);
    expect(issuesOf({ name: 'a', cron: '* * * * *', target: { job: {} }, missed: 'maybe' }).map((i) => i.path).sort()).toEqual(['missed']);
    expect(issuesOf({ name: 'A', cron: '* * * * *', target: {} }).map((i) => i.path).sort()).toEqual(['name', 'target']);
  });
});

describe('dueFires', () => {
  const hourly = (missed: 'once' | 'skip' | 'all') => ({ cron: '0 * * * *', missed });
  const last = at('2026-03-29T00:00:00Z'); // a European DST night: UTC has none

  it('fires nothing before the next time, and a time on time under every policy', () => {
    for (const m of ['once', 'skip', 'all'] as const) {
      expect(dueFires(hourly(m), last, at('2026-03-29T00:59:59.999Z'))).toEqual({ fires: [], upTo: null });
      expect(dueFires(hourly(m), last, at('2026-03-29T01:00:00Z'))).toEqual({ fires: [at('2026-03-29T01:00:00Z')], upTo: at('2026-03-29T01:00:00Z') });
    }
    // The time itself is dealt with: the same lastFireAt as that time fires nothing more.
    expect(dueFires(hourly('once'), at('2026-03-29T01:00:00Z'), at('2026-03-29T01:30:00Z')).fires).toEqual([]);
  });

  it('missed once: one fire (the earliest missed time) for a downtime, the same whatever now is', () => {
    const a = dueFires(hourly('once'), last, at('2026-03-29T05:10:00Z'));
    expect(a).toEqual({ fires: [at('2026-03-29T01:00:00Z')], upTo: at('2026-03-29T05:00:00Z') });
    expect(dueFires(hourly('once'), last, at('2026-03-29T07:10:00Z')).fires).toEqual(a.fires);
  });

  it('missed skip: fires only within the minute after a time (the boundary minute excluded)', () => {
    expect(dueFires(hourly('skip'), last, at('2026-03-29T05:00:59.999Z'))).toEqual({ fires: [at('2026-03-29T05:00:00Z')], upTo: at('2026-03-29T05:00:00Z') });
    expect(dueFires(hourly('skip'), last, at('2026-03-29T05:01:00Z'))).toEqual({ fires: [], upTo: at('2026-03-29T05:00:00Z') });
  });

  it('missed all: each missed time, oldest first, at most MAX_CATCH_UP, then on from the latest', () => {
    expect(dueFires(hourly('all'), last, at('2026-03-29T03:30:00Z')).fires).toEqual(['01', '02', '03'].map((h) => at(`2026-03-29T${h}:00:00Z`)));
    const long = dueFires(hourly('all'), last, at('2026-04-29T00:30:00Z'));
    expect(long.fires).toHaveLength(MAX_CATCH_UP);
    expect(long.fires[0]).toBe(at('2026-03-29T01:00:00Z'));
    expect(long.upTo).toBe(at('2026-04-29T00:00:00Z'));
    // A sparse cron (monthly) missed over years finds its latest time too.
    expect(dueFires({ cron: '0 0 1 * *', missed: 'once' }, at('2010-01-01T00:00:00Z'), at('2026-03-29T00:00:00Z')).upTo).toBe(at('2026-03-01T00:00:00Z'));
  });

  it('takes a seconds field, and days of the month in UTC', () => {
    expect(dueFires({ cron: '*/2 * * * * *', missed: 'all' }, at('2026-01-01T00:00:00.500Z'), at('2026-01-01T00:00:05Z')).fires).toEqual([2, 4].map((s) => at(`2026-01-01T00:00:0${s}Z`)));
    // Day of month or day of week, as classic cron: the 1st, and Mondays.
    expect(dueFires({ cron: '0 0 1 * MON', missed: 'all' }, at('2025-12-31T00:00:00Z'), at('2026-01-13T00:00:00Z')).fires).toEqual(['01', '05', '12'].map((d) => at(`2026-01-${d}T00:00:00Z`)));
    expect(dueFires({ cron: '30 2 31 * *', missed: 'all' }, at('2026-01-01T00:00:00Z'), at('2026-04-01T00:00:00Z')).fires).toEqual([at('2026-01-31T02:30:00Z'), at('2026-03-31T02:30:00Z')]);
  });

  it('keys a fire\'s job by schedule and time', () => {
    expect(fireJobKey('n', at('2026-01-01T00:00:00Z'))).toBe('schedule:n:2026-01-01T00:00:00.000Z');
  });
});
