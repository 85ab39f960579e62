import { describe, expect, it } from 'vitest';
import { dependencyFailureReason, dependencyWaitingReason, dependentsToFail, evaluateDependencies, MAX_DEPENDENCY_REASON, missingDependencyIssues } from './dependencies.js';
import { ValidationError } from './errors.js';
import { parseJobSpec } from './job-spec.js';

describe('evaluateDependencies', () => {
  it('is ready when every dependency succeeded (or is known to have, though purged)', () => {
    expect(evaluateDependencies([])).toEqual({ kind: 'ready' });
    expect(evaluateDependencies([{ id: 1, state: 'succeeded', reason: null }, { id: 2, state: null, reason: null, met: true }])).toEqual({ kind: 'ready' });
  });

  it('waits for the dependencies that have not ended, in the order given', () => {
    expect(
      evaluateDependencies([
        { id: 7, state: 'running', reason: null },
        { id: 3, state: 'succeeded', reason: null },
        { id: 5, state: 'queued', reason: 'retry 2/5 in 1.0s' },
        { id: 4, state: 'assigned', reason: null },
      ]),
    ).toEqual({ kind: 'waiting', waitingOn: [7, 5, 4] });
  });

  it('fails on the first dependency that failed, was cancelled or is gone, even while others still run', () => {
    expect(evaluateDependencies([{ id: 1, state: 'running', reason: null }, { id: 2, state: 'failed', reason: 'exited with code 1; gave up after 3 attempt(s)' }])).toEqual({
      kind: 'failed',
      dependencyId: 2,
      reason: 'dependency job 2 failed: exited with code 1; gave up after 3 attempt(s)',
    });
    expect(evaluateDependencies([{ id: 9, state: 'cancelled', reason: 'cancelled by user' }, { id: 2, state: 'failed', reason: 'x' }])).toMatchObject({ dependencyId: 9, reason: 'dependency job 9 was cancelled: cancelled by user' });
    expect(evaluateDependencies([{ id: 4, state: null, reason: null }])).toMatchObject({ kind: 'failed', dependencyId: 4, reason: expect.stringContaining('purged by retention') });
  });
});

describe('dependentsToFail', () => {
  it('fails each waiting dependent once, named by its first ended dependency', () => {
    const ended = [
      { id: 10, state: 'cancelled' as const, reason: 'stop' },
      { id: 11, state: 'failed' as const, reason: null },
    ];
    const edges = [
      { jobId: 21, dependsOn: 11 },
      { jobId: 20, dependsOn: 11 },
      { jobId: 20, dependsOn: 10 },
      { jobId: 22, dependsOn: 99 },
    ];
    expect(dependentsToFail(ended, edges)).toEqual([
      { jobId: 20, dependencyId: 10, reason: 'dependency job 10 was cancelled: stop' },
      { jobId: 21, dependencyId: 11, reason: 'dependency job 11 failed' },
    ]);
    expect(dependentsToFail(ended, [])).toEqual([]);
  });

  it('keeps reasons of long chains bounded', () => {
    let reason = 'exited with code 1';
    for (let id = 1; id <= 200; id++) reason = dependencyFailureReason(id, 'failed', reason);
    expect(reason.length).toBeLessThanOrEqual(MAX_DEPENDENCY_REASON);
    expect(reason.startsWith('dependency job 200 failed: dependency job 199 failed: ')).toBe(true);
  });
});

describe('dependencyWaitingReason', () => {
  it('names what a queued job waits for, and nothing once all succeeded', () => {
    expect(dependencyWaitingReason([{ jobId: 12, state: 'running', met: false }, { jobId: 3, state: 'succeeded', met: true }])).toBe('waiting for job 12 (running) to succeed');
    expect(dependencyWaitingReason([{ jobId: 12, state: 'running', met: false }, { jobId: 13, state: 'queued', met: false }])).toBe('waiting for 2 jobs to succeed: 12 (running), 13 (queued)');
    const many = Array.from({ length: 8 }, (_, i) => ({ jobId: i + 1, state: 'queued' as const, met: false }));
    expect(dependencyWaitingReason(many)).toBe('waiting for 8 jobs to succeed: 1 (queued), 2 (queued), 3 (queued), 4 (queued), 5 (queued), and 3 more');
    expect(dependencyWaitingReason([{ jobId: 3, state: null, met: true }])).toBeNull();
    expect(dependencyWaitingReason([])).toBeNull();
  });
});

describe('missingDependencyIssues', () => {
  it('names each missing job by its field, as a single spec or in a batch', () => {
    const exists = (id: number) => id < 100;
    expect(missingDependencyIssues([{ dependsOn: [1, 500] }], exists)).toEqual([{ path: 'dependsOn.1', message: expect.stringContaining('job 500 does not exist') }]);
    expect(missingDependencyIssues([{ dependsOn: [] }, { dependsOn: [101, 2, 102] }], exists).map((i) => i.path)).toEqual(['jobs.1.dependsOn.0', 'jobs.1.dependsOn.2']);
    expect(missingDependencyIssues([{ dependsOn: [1, 2] }], exists)).toEqual([]);
  });
});

describe('dependsOn in the job spec', () => {
  const issues = (input: unknown) => {
    try {
      parseJobSpec(input);
    } catch (e) {
      if (e instanceof ValidationError) return e.issues;
      throw e;
    }
    return [];
  };

  it('defaults to none and keeps the order given', () => {
    expect(parseJobSpec({ type: 'noop' }).dependsOn).toEqual([]);
    expect(parseJobSpec({ type: 'noop', dependsOn: [5, 2, 9] }).dependsOn).toEqual([5, 2, 9]);
  });

  it.each([
    [[0], 'dependsOn.0'],
    [[1, -3], 'dependsOn.1'],
    [[1.5], 'dependsOn.0'],
    [['7'], 'dependsOn.0'],
    ['7', 'dependsOn'],
    [[4, 5, 4], 'dependsOn.2'],
  ])('refuses %j, naming %s', (dependsOn, path) => {
    expect(issues({ type: 'noop', dependsOn }).map((i) => i.path)).toContain(path);
  });

  it('refuses more than 1000 jobs', () => {
    const ids = Array.from({ length: 1001 }, (_, i) => i + 1);
    expect(issues({ type: 'noop', dependsOn: ids })).toEqual([{ path: 'dependsOn', message: 'at most 1000 jobs' }]);
    expect(parseJobSpec({ type: 'noop', dependsOn: ids.slice(0, 1000) }).dependsOn).toHaveLength(1000);
  });
});
