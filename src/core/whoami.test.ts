import { describe, expect, it } from 'vitest';
import { ACTIONS, can, LOCAL_PRINCIPAL, ROLES } from './access.js';
import { principalOfWhoAmI, whoAmI } from './whoami.js';

describe('whoAmI', () => {
  it('lists exactly the actions a token\'s role may take', () => {
    for (const role of ROLES) {
      const me = whoAmI({ kind: 'token', tokenId: 'tok_0123456789abcdef', name: 'n', role }, 'required');
      expect(me).toMatchObject({ name: 'n', role, tokenId: 'tok_0123456789abcdef', auth: 'required' });
      expect(me.actions).toEqual(ACTIONS.filter((a) => can(role, a)));
      expect(principalOfWhoAmI(me)).toEqual({ kind: 'token', tokenId: 'tok_0123456789abcdef', name: 'n', role });
    }
  });

  it('gives `local` (auth off) every action and no role', () => {
    const me = whoAmI(LOCAL_PRINCIPAL, 'off');
    expect(me).toEqual({ name: 'local', role: null, tokenId: null, auth: 'off', actions: [...ACTIONS] });
    expect(principalOfWhoAmI(me)).toEqual(LOCAL_PRINCIPAL);
  });
});
