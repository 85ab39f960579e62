import { describe, expect, it } from 'vitest';
import { expandFeedTypes, feedEventMatches, feedResume, type FeedEvent } from './feed-events.js';

const jobEvent: FeedEvent = { id: 7, at: 1, type: 'job.state', jobId: 3, name: 'n', queue: 'q', labels: {}, owner: null, attempt: null, nodeId: null, devices: [], from: null, to: 'queued', reason: null, inDlq: false };
const nodeEvent: FeedEvent = { id: 8, at: 2, type: 'node.admin', nodeId: 'n1', adminState: 'cordoned' };

describe('event feed filters', () => {
  it('expands a type prefix to its types and keeps exact types', () => {
    expect(expandFeedTypes(['job'])).toEqual({ types: ['job.state', 'job.idle'] });
    expect(expandFeedTypes(['node', 'leader'])).toEqual({ types: ['node.state', 'node.admin', 'leader'] });
    expect(expandFeedTypes(['node.admin', 'node.admin'])).toEqual({ types: ['node.admin'] });
    expect(expandFeedTypes(['job.state', 'jobs'])).toEqual({ unknown: 'jobs' });
    expect(expandFeedTypes(['job.'])).toEqual({ unknown: 'job.' });
  });

  it('matches an event only when every condition given holds', () => {
    expect(feedEventMatches(jobEvent, {})).toBe(true);
    expect(feedEventMatches(jobEvent, { types: ['job.state'], jobId: 3, queue: 'q' })).toBe(true);
    expect(feedEventMatches(jobEvent, { jobId: 4 })).toBe(false);
    expect(feedEventMatches(jobEvent, { queue: 'other' })).toBe(false);
    expect(feedEventMatches(nodeEvent, { types: ['job.state'] })).toBe(false);
    // Events that concern no job or queue do not pass a job or queue filter.
    expect(feedEventMatches(nodeEvent, { queue: 'q' })).toBe(false);
    expect(feedEventMatches(nodeEvent, { jobId: 3 })).toBe(false);
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
