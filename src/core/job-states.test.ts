import { describe, expect, it } from 'vitest';
import { canTransition, isLive, isTerminal } from './job-states.js';
import { JOB_STATES } from './types.js';

describe('job state machine', () => {
  it('follows queued → assigned → running → succeeded', () => {
    expect(canTransition('queued', 'assigned')).toBe(true);
    expect(canTransition('assigned', 'running')).toBe(true);
    expect(canTransition('running', 'succeeded')).toBe(true);
  });

  it('never skips assignment and never leaves a success or a cancellation', () => {
    expect(canTransition('queued', 'running')).toBe(false);
    expect(canTransition('queued', 'succeeded')).toBe(false);
    for (const to of JOB_STATES) {
      expect(canTransition('succeeded', to)).toBe(false);
      expect(canTransition('cancelled', to)).toBe(false);
    }
  });

  it('lets only a DLQ replay leave failed', () => {
    expect(JOB_STATES.filter((to) => canTransition('failed', to))).toEqual(['queued']);
  });

  it('classifies states', () => {
    expect(JOB_STATES.filter(isTerminal)).toEqual(['succeeded', 'failed', 'cancelled']);
    expect(JOB_STATES.filter(isLive)).toEqual(['assigned', 'running']);
  });
});
