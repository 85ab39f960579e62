import { describe, expect, it } from 'vitest';
import { expandFeedTypes, feedResume } from './feed-events.js';

describe('event feed type filters', () => {
  it('expands a type prefix to its types and keeps exact types', () => {
    expect(expandFeedTypes(['job'])).toEqual({ types: ['job.state', 'job.idle'] });
    expect(expandFeedTypes(['node', 'leader'])).toEqual({ types: ['node.state', 'node.admin', 'leader'] });
    expect(expandFeedTypes(['node.admin', 'node.admin'])).toEqual({ types: ['node.admin'] });
    expect(expandFeedTypes(['job.state', 'jobs'])).toEqual({ unknown: 'jobs' });
    expect(expandFeedTypes(['job.'])).toEqual({ unknown: 'job.' });
    expect(expandFeedTypes(['pool'])).toEqual({ types: ['pool.created', 'pool.updated', 'pool.stopped', 'pool.started', 'pool.deleted', 'pool.replica.ready'] });
  });
});

describe('resuming the feed', () => {
  it('resumes after the id given while retention has kept everything after it', () => {
    expect(feedResume(0, 0)).toEqual({ after: 0, resync: false });
    expect(feedResume(120, 100)).toEqual({ after: 120, resync: false });
    expect(feedResume(100, 100)).toEqual({ after: 100, resync: false });
  });

  it('tells a reader that retention removed events it had not seen, and resumes at the oldest kept', () => {
    const r = feedResume(40, 100);
    expect(r).toMatchObject({ after: 100, resync: true });
    expect(r.resync && r.reason).toMatch(/events 41…100 were removed by retention/);
  });
});
