import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { allows, LOCAL_PRINCIPAL, rolesThatCan, shouldTouchToken, type Action, type AuditAction, type Principal } from '../core/access.js';
import { ForbiddenError, UnauthenticatedError } from '../core/errors.js';
import type { AccessStore } from '../store/access-store.js';
import type { AuditLog } from './audit-log.js';
import { hashToken, looksLikeToken } from './tokens.js';

/**
 * Authentication and authorization of the HTTP API, in one place.
 *
 * Every route declares what it needs in its options, as data:
 *   app.post('/v1/dlq/replay', requires('dlq.replay', audited('dlq.replay', dlqTarget)), handler)
 * `public` routes (liveness, readiness, the OpenAPI document) need nothing.
 * A route that declares nothing cannot be registered (the onRoute hook throws),
 * so a new route cannot be left open by mistake.
 *
 * - onRequest (before the body is read, so strangers cost no parsing):
 *   resolves `Authorization: Bearer <token>` to a principal, or answers 401.
 *   With auth off every caller is `local`.
 * - preValidation (after the body is parsed, so a refusal can name its target
 *   in the audit log): checks the route's action against the principal's role,
 *   or answers 403; a refused operator action is written to the audit log.
 *
 * Tokens are looked up in the store on every request (an index lookup on the
 * hash), with no cache: a revoke takes effect at once, on every server.
 */

export type AuthMode = 'required' | 'off';

/** What a route needs: an action of core/access.ts, or nothing (`public`). */
export type RouteAccess = Action | 'public';

/** How a route's operator action is named in the audit log; `target` reads the (parsed, maybe invalid) request. */
export interface RouteAudit {
  action: AuditAction;
  target: (req: FastifyRequest) => string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
    audit?: RouteAudit;
  }
  interface FastifyRequest {
    /** Who is calling; null only on public routes. Read it with principalOf(). */
    principal: Principal | null;
  }
  interface FastifyInstance {
    /** What each registered route needs, by "METHOD /path/:param" (HEAD routes left out): the OpenAPI document shows it. */
    routeAccess: Map<string, RouteAccess>;
  }
}

/** Route options declaring the action a route needs (and, for operator actions, how the audit log names them). */
export function requires(access: RouteAccess, audit?: RouteAudit): { config: { access: RouteAccess; audit?: RouteAudit } } {
  return { config: audit ? { access, audit } : { access } };
}

export function audited(action: AuditAction, target: (req: FastifyRequest) => string): RouteAudit {
  return { action, target };
}

export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new Error(`no principal on ${req.method} ${req.url}: a public route cannot ask who is calling`);
  return req.principal;
}

/** The refusal of `action` to `principal`: names the token, its role, the action and the roles that have it. */
export function forbidden(principal: Principal, action: Action, context?: string): ForbiddenError {
  // `local` may do everything; it is never refused.
  const role = principal.kind === 'token' ? principal.role : 'admin';
  const who = principal.kind === 'token' ? `token "${principal.name}" (role ${role})` : 'local';
  const roles = rolesThatCan(action);
  const need = roles.length > 0 ? `it needs a token with the role ${roles.join(', ').replace(/, ([^,]*)$/, ' or $1')}` : 'no role may';
  return new ForbiddenError(role, action, `${context ? `${context}: ` : ''}${who} may not ${action}; ${need}`);
}

/** Resolves an Authorization header to a token principal, or throws UnauthenticatedError. Touches the token at most once a minute. */
export async function authenticate(header: string | undefined, store: AccessStore, now: number): Promise<Principal> {
  if (header === undefined || header.trim() === '') throw new UnauthenticatedError('missing');
  const m = /^Bearer +(\S+) *$/i.exec(header);
  if (!m || !looksLikeToken(m[1]!)) throw new UnauthenticatedError('invalid');
  const token = await store.findTokenByHash(hashToken(m[1]!));
  if (!token || token.revokedAt !== null) throw new UnauthenticatedError('invalid');
  if (shouldTouchToken(token.lastUsedAt, now)) await store.touchToken(token.id, now);
  return { kind: 'token', tokenId: token.id, name: token.name, role: token.role };
}

export interface AuthOptions {
  mode: AuthMode;
  store: AccessStore;
  audit: AuditLog;
  now: () => number;
}

/** Installs the hooks; call before any route is registered. */
export function installAuth(app: FastifyInstance, o: AuthOptions): void {
  app.decorateRequest('principal', null);
  app.decorate('routeAccess', new Map<string, RouteAccess>());

  app.addHook('onRoute', (route) => {
    const access = route.config?.access;
    if (access === undefined) throw new Error(`route ${String(route.method)} ${route.url} declares no access: give it requires(action) or requires('public')`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') app.routeAccess.set(`${method} ${route.url}`, access);
  });

  app.addHook('onRequest', async (req) => {
    // Unknown routes have no config: they need a valid token too, so a stranger learns nothing of the API.
    if (req.routeOptions.config.access === 'public') return;
    req.principal = o.mode === 'off' ? LOCAL_PRINCIPAL : await authenticate(req.headers.authorization, o.store, o.now());
  });

  app.addHook('preValidation', async (req) => {
    const { access, audit } = req.routeOptions.config;
    if (access === undefined || access === 'public') return;
    const principal = principalOf(req);
    if (allows(principal, access)) return;
    const refusal = forbidden(principal, access);
    if (audit) await o.audit.record(o.audit.entry(principal, audit.action, auditTarget(audit, req), 'denied', refusal.message));
    throw refusal;
  });
}

/** The audit target of a refused request, whose body may not be valid: never throws. */
function auditTarget(audit: RouteAudit, req: FastifyRequest): string {
  try {
    return audit.target(req);
  } catch {
    return `${req.method} ${req.url.split('?')[0]}`;
  }
}

/** Logs, at start, how the API is protected; with auth required and no live token yet, how to create the first one. */
export async function announceAuth(mode: AuthMode, store: AccessStore, log: Logger, bootstrapCommand: string): Promise<void> {
  if (mode === 'off') {
    log.info('auth off: the API listens on loopback only and every local caller may do everything (gpuq up --auth required to require tokens)');
    return;
  }
  const live = await store.listTokens();
  if (live.length === 0) {
    log.warn(`auth required, and no API token exists yet: create the first admin token on this machine with \`${bootstrapCommand}\`, then pass it with --token or GPUQ_TOKEN`);
  } else {
    log.info({ tokens: live.length }, 'auth required: every API call needs a bearer token');
  }
}
