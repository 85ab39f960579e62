import Fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { can, LOCAL_PRINCIPAL, ROLES, TOKEN_TOUCH_INTERVAL_MS, type Action, type Role } from '../core/access.js';
import { AuditLog } from './audit-log.js';
import { installAuth, type AuthMode } from './auth.js';
import { issueToken } from './tokens.js';
import { startTestServer, type TestServer } from './test-server.js';

/** The HTTP API's access control, through inject() on a real server over a real SQLite store (no scheduler running). */

const log = pino({ level: 'silent' });
let server: TestServer | undefined;
let store: TestServer['store'];
let clock: TestServer['clock'];
let app: TestServer['app'];

async function serve(auth: AuthMode): Promise<void> {
  server = await startTestServer({ auth, prefix: 'gpuq-auth-' });
  ({ store, clock, app } = server);
}

const tokens = new Map<Role, string>();
async function tokenFor(role: Role, name: string = role): Promise<string> {
  const t = await issueToken(store, clock.now(), { name, role }, LOCAL_PRINCIPAL);
  return t.token;
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeEach(() => {
  tokens.clear();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** A request that reaches the route's access check: path parameters filled in, a JSON body where one is expected. */
function probe(key: string): { method: 'GET' | 'POST' | 'DELETE'; url: string; payload?: object } {
  const [method, path] = key.split(' ') as ['GET' | 'POST' | 'DELETE', string];
  const filled = path.replace(':id', path.startsWith('/v1/tokens') ? 'tok_0000000000000000' : '987654').replace(':queue', 'nothing-here').replace(':node', 'n1').replace(':index', '0');
  // The event stream follows forever: its JSON page answers, and is guarded by the same action.
  const url = filled === '/v1/events' ? '/v1/events?follow=false' : filled;
  return method === 'POST' ? { method, url, payload: {} } : { method, url };
}

describe('access control of every route', () => {
  it('declares an action for every route, and the OpenAPI document shows each one', async () => {
    await serve('required');
    const declared = [...app.routeAccess];
    expect(declared.length).toBeGreaterThan(15);
    // Pool replicas' own routes need no token: each checks the replica attempt's credential instead (routes/pool-replicas.ts).
    const replicaRoutes = Object.fromEntries(['ready', 'exchange', 'end'].map((r) => [`POST /v1/pools/:name/replicas/:job/${r}`, 'public']));
    expect(Object.fromEntries(declared.filter(([, a]) => a === 'public'))).toEqual({ 'GET /healthz': 'public', 'GET /health/ready': 'public', 'GET /v1/openapi.json': 'public', 'GET /': 'public', 'GET /ui': 'public', 'GET /ui/*': 'public', ...replicaRoutes });
    const doc = (await app.inject({ url: '/v1/openapi.json' })).json<{ paths: Record<string, Record<string, { 'x-gpuq-action': string; security: unknown[] }>> }>();
    for (const [key, access] of declared) {
      const [method, path] = key.split(' ');
      // A trailing wildcard (an artifact's name, which may hold "/") is documented as {name}.
      const op = doc.paths[path!.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{name}')]?.[method!.toLowerCase()];
      expect(op?.['x-gpuq-action'], key).toBe(access);
      expect(op?.security, key).toEqual(access === 'public' ? [] : [{ bearerToken: [] }]);
    }
  });

  it('refuses to register a route that declares no access', async () => {
    await serve('required');
    const bare = Fastify();
    installAuth(bare, { mode: 'required', store, audit: new AuditLog(store, clock, log), now: () => clock.now() });
    expect(() => bare.get('/v1/forgotten', async () => 'open')).toThrow(/declares no access/);
  });

  it('answers 403 exactly where the role lacks the route\'s action, for every route and every role', async () => {
    await serve('required');
    for (const role of ROLES) tokens.set(role, await tokenFor(role));
    for (const [key, access] of app.routeAccess) {
      if (access === 'public') continue;
      for (const role of ROLES) {
        const res = await app.inject({ ...probe(key), headers: bearer(tokens.get(role)!) });
        expect(res.statusCode, `${role} ${key}`).not.toBe(401);
        if (can(role, access as Action)) {
          expect(res.statusCode, `${role} ${key}: ${res.body}`).not.toBe(403);
        } else {
          expect(res.statusCode, `${role} ${key}`).toBe(403);
          const { error } = res.json<{ error: { code: string; message: string } }>();
          expect(error.code).toBe('FORBIDDEN');
          expect(error.message).toContain(`(role ${role})`);
          expect(error.message).toContain(access);
        }
      }
    }
  });
});

describe('authentication', () => {
  it('answers 401 with a Bearer challenge for a missing, malformed, unknown or revoked token; public routes stay open', async () => {
    await serve('required');
    const viewer = await tokenFor('viewer');
    const missing = await app.inject({ url: '/v1/jobs' });
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="gpuq"');
    expect(missing.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED', message: expect.stringContaining('GPUQ_TOKEN') } });
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer not-a-token', `Bearer gpuq_${'A'.repeat(43)}`, `Bearer ${viewer}x`]) {
      const res = await app.inject({ url: '/v1/jobs', headers: { authorization: header } });
      expect(res.statusCode, header).toBe(401);
      expect(res.headers['www-authenticate'], header).toBe('Bearer realm="gpuq", error="invalid_token"');
    }
    expect((await app.inject({ url: '/v1/jobs', headers: bearer(viewer) })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/jobs', headers: { authorization: `bearer  ${viewer}` } })).statusCode).toBe(200);
    const [t] = await store.listTokens();
    await store.revokeToken(t!.id, clock.now(), () => ({ at: clock.now(), actor: 'local', actorTokenId: null, role: null, action: 'tokens.revoke', target: 't', outcome: 'ok', detail: null }));
    expect((await app.inject({ url: '/v1/jobs', headers: bearer(viewer) })).statusCode).toBe(401);
    for (const url of ['/healthz', '/health/ready', '/v1/openapi.json']) expect((await app.inject({ url })).statusCode, url).not.toBe(401);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(401);
    // An unknown route tells a stranger nothing: 401 first, 404 only with a token.
    expect((await app.inject({ url: '/v1/secret' })).statusCode).toBe(401);
    const admin = await tokenFor('admin');
    expect((await app.inject({ url: '/v1/secret', headers: bearer(admin) })).statusCode).toBe(404);
  });

  it('records a token\'s last use at most once a minute', async () => {
    await serve('required');
    const token = await tokenFor('viewer');
    const lastUsed = async () => (await store.listTokens())[0]!.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const t0 = clock.now();
    await app.inject({ url: '/v1/jobs', headers: bearer(token) });
    expect(await lastUsed()).toBe(t0);
    clock.advance(TOKEN_TOUCH_INTERVAL_MS - 1);
    await app.inject({ url: '/v1/jobs', headers: bearer(token) });
    expect(await lastUsed()).toBe(t0);
    clock.advance(1);
    await app.inject({ url: '/v1/jobs', headers: bearer(token) });
    expect(await lastUsed()).toBe(t0 + TOKEN_TOUCH_INTERVAL_MS);
  });

  it('with auth off, lets every caller do everything as `local`, and audits it as local', async () => {
    await serve('off');
    const res = await app.inject({ method: 'POST', url: '/v1/control/maintenance', payload: { mode: 'drain' } });
    expect(res.json()).toMatchObject({ mode: 'drain' });
    const created = await app.inject({ method: 'POST', url: '/v1/tokens', payload: { name: 'ci', role: 'submitter' } });
    expect(created.statusCode).toBe(201);
    const audit = await app.inject({ url: '/v1/audit' });
    expect(audit.json<{ entries: unknown[] }>().entries).toMatchObject([
      { actor: 'local', actorTokenId: null, role: null, action: 'tokens.create', target: expect.stringMatching(/^token ci \(tok_[0-9a-f]{16}\)$/), outcome: 'ok', detail: 'role submitter' },
      { actor: 'local', action: 'control.maintenance', target: 'drain', outcome: 'ok', detail: 'normal → drain; 0 attempt(s) running' },
    ]);
  });
});

describe('tokens and ownership over the API', () => {
  it('shows a token once, never lists a hash, refuses a taken name, and revokes', async () => {
    await serve('required');
    const admin = bearer(await tokenFor('admin', 'root'));
    const created = await app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { name: 'ci', role: 'submitter' } });
    expect(created.statusCode).toBe(201);
    const body = created.json<{ token: string; id: string; name: string; role: string; createdAt: number }>();
    expect(body).toEqual({ token: expect.stringMatching(/^gpuq_/), id: expect.stringMatching(/^tok_/), name: 'ci', role: 'submitter', createdAt: clock.now() });
    const listed = await app.inject({ url: '/v1/tokens', headers: admin });
    expect(listed.body).not.toContain(body.token);
    expect(listed.body).not.toMatch(/[0-9a-f]{64}/);
    expect(listed.json<{ tokens: { name: string }[] }>().tokens.map((t) => t.name)).toEqual(['root', 'ci']);
    const taken = await app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { name: 'ci', role: 'viewer' } });
    expect(taken.statusCode).toBe(409);
    expect(taken.json()).toMatchObject({ error: { code: 'TOKEN_NAME_TAKEN' } });
    const bad = await app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { name: 'local', role: 'god', extra: 1 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: { issues: { path: string }[] } }>().error.issues.map((i) => i.path).sort()).toEqual(['', 'name', 'role']);
    expect((await app.inject({ method: 'DELETE', url: `/v1/tokens/${body.id}`, headers: admin })).json()).toMatchObject({ token: { id: body.id, revokedAt: clock.now() } });
    expect((await app.inject({ url: '/v1/jobs', headers: bearer(body.token) })).statusCode).toBe(401);
    expect((await app.inject({ method: 'DELETE', url: '/v1/tokens/tok_ffffffffffffffff', headers: admin })).statusCode).toBe(404);
    const audit = (await app.inject({ url: '/v1/audit?action=tokens.revoke', headers: admin })).json<{ entries: { outcome: string; target: string }[] }>();
    expect(audit.entries.map((e) => [e.outcome, e.target])).toEqual([
      ['failed', 'token tok_ffffffffffffffff'],
      ['ok', `token ci (${body.id})`],
    ]);
  });

  it('lets a submitter cancel its own jobs only, an operator anyone\'s (audited), and lists a token\'s jobs', async () => {
    await serve('required');
    const alice = bearer(await tokenFor('submitter', 'alice'));
    const bob = bearer(await tokenFor('submitter', 'bob'));
    const ops = bearer(await tokenFor('operator', 'ops'));
    const submit = async (h: Record<string, string>) => (await app.inject({ method: 'POST', url: '/v1/jobs', headers: h, payload: { command: ['sleep', '60'] } })).json<{ job: { id: number; owner: string; ownerTokenId: string } }>().job;
    const a1 = await submit(alice);
    const a2 = await submit(alice);
    const b1 = await submit(bob);
    expect(a1.owner).toBe('alice');
    const mine = (await app.inject({ url: '/v1/jobs?owner=me', headers: alice })).json<{ jobs: { id: number }[] }>().jobs.map((j) => j.id);
    expect(mine).toEqual([a2.id, a1.id]);
    expect((await app.inject({ url: `/v1/jobs?owner=${b1.ownerTokenId}`, headers: alice })).json<{ jobs: { id: number }[] }>().jobs.map((j) => j.id)).toEqual([b1.id]);

    const refused = await app.inject({ method: 'POST', url: `/v1/jobs/${a1.id}/cancel`, headers: bob });
    expect(refused.statusCode).toBe(403);
    expect(refused.json<{ error: { message: string } }>().error.message).toMatch(/belongs to token "alice".*token "bob" \(role submitter\) may not jobs\.cancel\.any/);
    expect((await app.inject({ method: 'POST', url: `/v1/jobs/${a1.id}/cancel`, headers: alice })).json()).toMatchObject({ cancelled: true });
    expect((await app.inject({ method: 'POST', url: `/v1/jobs/${b1.id}/cancel`, headers: ops, payload: { reason: 'bad data' } })).json()).toMatchObject({ cancelled: true, job: { state: 'cancelled' } });
    expect((await app.inject({ method: 'POST', url: `/v1/queues/default/cancel`, headers: bob })).statusCode).toBe(403);

    const audit = (await app.inject({ url: '/v1/audit', headers: ops })).json<{ entries: { actor: string; action: string; target: string; outcome: string; detail: string }[] }>().entries;
    expect(audit.map((e) => [e.actor, e.action, e.target, e.outcome])).toEqual([
      ['bob', 'queue.cancel', 'queue default', 'denied'],
      ['ops', 'jobs.cancel.any', `job ${b1.id} (owner bob)`, 'ok'],
      ['bob', 'jobs.cancel.any', `job ${a1.id} (owner alice)`, 'denied'],
      ['local', 'tokens.create', expect.stringContaining('ops'), 'ok'],
      ['local', 'tokens.create', expect.stringContaining('bob'), 'ok'],
      ['local', 'tokens.create', expect.stringContaining('alice'), 'ok'],
    ]);
    expect(audit[1]!.detail).toBe('cancelled: bad data');
  });
});
