import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { cancelAction, rolesThatCan, type Action } from '../../src/core/access.js';
import { principalOfWhoAmI, type WhoAmI } from '../../src/core/whoami.js';
import type { Job } from '../../src/core/types.js';
import type { DashboardClient } from './api.js';
import type { LiveFeed } from './event-stream.js';

/**
 * Who is signed in. With auth off every local caller is `local` and may do everything; with auth on the
 * dashboard asks for a token, keeps it in sessionStorage (gone when the browser session ends, never sent
 * anywhere but this server) and asks GET /v1/whoami what its role may do.
 */

const TOKEN_KEY = 'gpuq.token';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    /* storage disabled: the token lives as long as the page */
  }
}

/** Asks the server who a token is: the answer, or null when the server wants a (valid) token. */
export async function askWhoAmI(token: string | null): Promise<WhoAmI | null> {
  const res = await fetch('/v1/whoami', { headers: token === null ? {} : { authorization: `Bearer ${token}` }, cache: 'no-store' });
  if (res.status === 401) return null;
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
    throw new Error(body.error?.message ?? `GET /v1/whoami answered ${res.status}`);
  }
  return (await res.json()) as WhoAmI;
}

export interface Session {
  me: WhoAmI;
  client: DashboardClient;
  live: LiveFeed;
  signOut(): void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('no session');
  return s;
}

/** Null when the caller may take `action`; else why not, for a disabled button's title. */
export function refusal(me: WhoAmI, action: Action): string | null {
  if (me.actions.includes(action)) return null;
  const roles = rolesThatCan(action);
  const need = roles.length === 0 ? 'no role may' : `needs the ${roles.join(', ').replace(/, ([^,]*)$/, ' or $1')} role`;
  return `${action} ${need}; token "${me.name}" has the role ${me.role ?? 'none'}`;
}

/** Null when the caller may cancel the job (its own with jobs.cancel.own, anyone's with jobs.cancel.any); else why not. */
export function cancelRefusal(me: WhoAmI, job: Pick<Job, 'ownerTokenId' | 'owner'>): string | null {
  const action = cancelAction(principalOfWhoAmI(me), job.ownerTokenId);
  const why = refusal(me, action);
  if (why === null) return null;
  return action === 'jobs.cancel.any' && me.actions.includes('jobs.cancel.own') ? `this job belongs to ${job.owner === null ? 'no token' : `token "${job.owner}"`}: cancelling it ${why}` : why;
}
