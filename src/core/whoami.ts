import { ACTIONS, allows, type Action, type Principal, type Role } from './access.js';

/** GET /v1/whoami: who the caller is to the server, and what it may do. */
export interface WhoAmI {
  /** The token's name; `local` with auth off. */
  name: string;
  /** The token's role; null for `local` (auth off lets it do everything). */
  role: Role | null;
  tokenId: string | null;
  /** How the server checks callers (`gpuq up --auth`). */
  auth: 'required' | 'off';
  /** Every action the caller may take, so a client can disable what it may not do (and say why). */
  actions: Action[];
}

export function whoAmI(principal: Principal, auth: WhoAmI['auth']): WhoAmI {
  const actions = ACTIONS.filter((a) => allows(principal, a));
  return principal.kind === 'token'
    ? { name: principal.name, role: principal.role, tokenId: principal.tokenId, auth, actions }
    : { name: 'local', role: null, tokenId: null, auth, actions };
}

/** The principal a WhoAmI answer describes: what a client passes to the policy functions of access.ts. */
export function principalOfWhoAmI(me: WhoAmI): Principal {
  return me.tokenId !== null && me.role !== null ? { kind: 'token', tokenId: me.tokenId, name: me.name, role: me.role } : { kind: 'local' };
}
