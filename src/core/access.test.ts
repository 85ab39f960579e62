import { describe, expect, it } from 'vitest';
import { ACTIONS, allows, can, cancelAction, isRole, LOCAL_PRINCIPAL, ownsJob, ROLES, rolesThatCan, shouldTouchToken, TOKEN_NAME, TOKEN_TOUCH_INTERVAL_MS, type Action, type Principal, type Role } from './access.js';

/** The whole matrix, written out: a change to the policy must change this table. */
const EXPECTED: Record<Action, Role[]> = {
  'jobs.read': ['viewer', 'submitter', 'operator', 'admin'],
  'dlq.read': ['viewer', 'submitter', 'operator', 'admin'],
  'nodes.read': ['viewer', 'submitter', 'operator', 'admin'],
  'control.read': ['viewer', 'submitter', 'operator', 'admin'],
  'system.read': ['viewer', 'submitter', 'operator', 'admin'],
  'jobs.submit': ['submitter', 'operator', 'admin'],
  'jobs.cancel.own': ['submitter', 'operator', 'admin'],
  'jobs.cancel.any': ['operator', 'admin'],
  'queue.cancel': ['operator', 'admin'],
  'dlq.replay': ['operator', 'admin'],
  'dlq.purge': ['operator', 'admin'],
  'nodes.manage': ['operator', 'admin'],
  'control.maintenance': ['operator', 'admin'],
  'audit.read': ['operator', 'admin'],
  'tokens.manage': ['admin'],
  'pools.read': ['viewer', 'submitter', 'operator', 'admin'],
  'pools.submit': ['submitter', 'operator', 'admin'],
  'pools.manage': ['operator', 'admin'],
  'intake.read': ['viewer', 'submitter', 'operator', 'admin'],
  'intake.manage': ['operator', 'admin'],
  'pipelines.read': ['viewer', 'submitter', 'operator', 'admin'],
  'pipelines.run': ['submitter', 'operator', 'admin'],
  'pipelines.manage': ['operator', 'admin'],
  'agent.register': ['agent'],
  'agent.heartbeat': ['agent'],
  'agent.report': ['agent'],
};

const token = (role: Role, tokenId = `tok_${role}`): Principal => ({ kind: 'token', tokenId, name: role, role });

describe('access policy', () => {
  it('grants each role exactly the actions of the matrix', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...ACTIONS].sort());
    for (const action of ACTIONS) {
      for (const role of ROLES) expect(can(role, action), `${role} ${action}`).toBe(EXPECTED[action].includes(role));
    }
  });

  it('nests the human roles: viewer ⊂ submitter ⊂ operator ⊂ admin, each strictly', () => {
    const chain: Role[] = ['viewer', 'submitter', 'operator', 'admin'];
    for (let i = 1; i < chain.length; i++) {
      const lower = ACTIONS.filter((a) => can(chain[i - 1]!, a));
      const upper = ACTIONS.filter((a) => can(chain[i]!, a));
      expect(upper).toEqual(expect.arrayContaining(lower));
      expect(upper.length).toBeGreaterThan(lower.length);
    }
  });

  it('gives an agent the agent actions and nothing else, and no human role an agent action', () => {
    for (const action of ACTIONS) {
      const isAgentAction = action.startsWith('agent.');
      expect(can('agent', action), action).toBe(isAgentAction);
      for (const role of ROLES.filter((r) => r !== 'agent')) if (isAgentAction) expect(can(role, action), `${role} ${action}`).toBe(false);
    }
  });

  it('names the roles that may do an action, most limited first', () => {
    expect(rolesThatCan('jobs.submit')).toEqual(['submitter', 'operator', 'admin']);
    expect(rolesThatCan('tokens.manage')).toEqual(['admin']);
    expect(rolesThatCan('agent.report')).toEqual(['agent']);
  });

  it('lets `local` (auth off) do everything', () => {
    for (const action of ACTIONS) expect(allows(LOCAL_PRINCIPAL, action)).toBe(true);
    expect(allows(token('viewer'), 'jobs.submit')).toBe(false);
  });

  it('recognizes role names', () => {
    expect(ROLES.every(isRole)).toBe(true);
    expect(isRole('root')).toBe(false);
  });
});

describe('job ownership', () => {
  it('needs jobs.cancel.own for one\'s own job and jobs.cancel.any for anyone else\'s, by token id', () => {
    const alice = token('submitter', 'tok_a');
    expect(ownsJob(alice, 'tok_a')).toBe(true);
    expect(cancelAction(alice, 'tok_a')).toBe('jobs.cancel.own');
    expect(cancelAction(alice, 'tok_b')).toBe('jobs.cancel.any');
    // A job submitted with auth off has no owner: to a token it is someone else's; to local it is its own.
    expect(cancelAction(alice, null)).toBe('jobs.cancel.any');
    expect(cancelAction(LOCAL_PRINCIPAL, null)).toBe('jobs.cancel.own');
    expect(cancelAction(LOCAL_PRINCIPAL, 'tok_a')).toBe('jobs.cancel.any');
  });
});

describe('token bookkeeping', () => {
  it('touches a token at most once a minute', () => {
    expect(shouldTouchToken(null, 1000)).toBe(true);
    expect(shouldTouchToken(1000, 1000 + TOKEN_TOUCH_INTERVAL_MS - 1)).toBe(false);
    expect(shouldTouchToken(1000, 1000 + TOKEN_TOUCH_INTERVAL_MS)).toBe(true);
  });

  it('accepts plain names and refuses empty, long, odd and reserved ones', () => {
    for (const ok of ['ci', 'alice@example.com', 'build-bot_2', 'A.b']) expect(TOKEN_NAME.test(ok), ok).toBe(true);
    for (const bad of ['', 'local', '-x', 'a b', 'x'.repeat(65), 'näme']) expect(TOKEN_NAME.test(bad), bad).toBe(false);
  });
});
