import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../src/core/access.js';
import { GpuqApiError, GpuqClient } from '../src/sdk/client.js';
import { leakedServers, runCli, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

/**
 * API tokens and roles against a real `gpuq up --auth required` process on
 * SQLite, over real HTTP: the first admin token is made with the CLI straight
 * in the database, the others through the API; then each refusal of the
 * issue's done-when list is asserted, and the audit log read back.
 */

let gpuq: GpuqProcess;
let dataDir: string;
const clients: Record<'admin' | 'viewer' | 'alice' | 'bob' | 'ops' | 'agent', GpuqClient> = {} as never;
const plaintext: Record<string, string> = {};

/** The error a call fails with (the test fails if it does not). */
async function refusal(call: Promise<unknown>): Promise<GpuqApiError> {
  const e = await call.then(
    () => new Error('the call succeeded, but a refusal was expected'),
    (err: unknown) => err,
  );
  if (!(e instanceof GpuqApiError)) throw e;
  return e;
}

beforeAll(async () => {
  dataDir = tempDir();
  gpuq = await startGpuq({ dataDir, fakeGpus: 1, args: ['--auth', 'required'] });
  // The server says how to make the first token, since none exists yet.
  await until('the bootstrap hint in the server log', () => gpuq.stderr().includes(`gpuq token create --role admin --name admin --data-dir ${dataDir}`));

  const boot = await runCli(['token', 'create', '--role', 'admin', '--name', 'root', '--data-dir', dataDir, '--json']);
  expect(boot.code, boot.stderr).toBe(0);
  plaintext.admin = (JSON.parse(boot.stdout) as { token: string }).token;
  clients.admin = new GpuqClient(gpuq.url, { token: plaintext.admin });

  // Through the CLI against the server (token from the environment), and through the SDK.
  const viewer = await runCli(['token', 'create', '--role', 'viewer', '--name', 'viewer'], { GPUQ_URL: gpuq.url, GPUQ_TOKEN: plaintext.admin });
  expect(viewer.code, viewer.stderr).toBe(0);
  expect(viewer.stderr).toContain('shown only this once');
  plaintext.viewer = viewer.stdout.trim();
  clients.viewer = new GpuqClient(gpuq.url, { token: plaintext.viewer });
  for (const [name, role] of [['alice', 'submitter'], ['bob', 'submitter'], ['ops', 'operator'], ['agent', 'agent']] as const) {
    plaintext[name] = (await clients.admin.createToken(name, role)).token;
    clients[name] = new GpuqClient(gpuq.url, { token: plaintext[name] });
  }
});

afterAll(async () => {
  await gpuq.stop();
  expect(leakedServers()).toBe(0);
});

describe('gpuq up --auth required: roles', () => {
  it('a viewer can read but cannot submit or cancel', async () => {
    expect((await clients.viewer.list()).jobs).toBeInstanceOf(Array);
    const submit = await refusal(clients.viewer.submit({ type: 'noop' }));
    expect(submit).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(submit.message).toContain('token "viewer" (role viewer) may not jobs.submit');
    const { job } = await clients.alice.submit({ command: ['sleep', '600'], queue: 'alice-q' });
    expect(job.owner).toBe('alice');
    expect(await refusal(clients.viewer.cancel(job.id))).toMatchObject({ status: 403, code: 'FORBIDDEN', message: expect.stringContaining('jobs.cancel.own') });
    expect(await refusal(clients.viewer.cancelQueue('alice-q'))).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect((await clients.viewer.get(job.id)).job.state).not.toBe('cancelled');
  });

  it('a submitter cannot cancel another\'s job or drain, but cancels its own', async () => {
    const { job: theirs } = await clients.alice.submit({ command: ['sleep', '600'] });
    const { job: own } = await clients.bob.submit({ command: ['sleep', '600'] });
    const cancel = await refusal(clients.bob.cancel(theirs.id));
    expect(cancel).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(cancel.message).toContain(`job ${theirs.id} belongs to token "alice"`);
    expect((await clients.bob.get(theirs.id)).job.state).not.toBe('cancelled');
    const drain = await refusal(clients.bob.setMaintenance('drain'));
    expect(drain).toMatchObject({ status: 403, code: 'FORBIDDEN', message: expect.stringContaining('token "bob" (role submitter) may not control.maintenance') });
    expect((await clients.bob.health()).maintenance).toBe('normal');
    expect(await clients.bob.cancel(own.id)).toMatchObject({ cancelled: true });
    // An operator may cancel anyone's job.
    expect(await clients.ops.cancel(theirs.id, 'cleanup')).toMatchObject({ cancelled: true });
  });

  it('an agent token cannot call admin or operator endpoints, nor read jobs', async () => {
    const agent = clients.agent;
    const calls = [() => agent.createToken('sneaky', 'admin'), () => agent.listTokens(), () => agent.revokeToken('tok_0000000000000000'), () => agent.setMaintenance('drain'), () => agent.audit(), () => agent.list()];
    for (const call of calls) {
      expect(await refusal(call())).toMatchObject({ status: 403, code: 'FORBIDDEN', message: expect.stringContaining('(role agent)') });
    }
    expect((await clients.admin.listTokens()).tokens.map((t) => t.name)).not.toContain('sneaky');
  });

  it('a missing, wrong or revoked token gets 401 with a Bearer challenge', async () => {
    const anonymous = new GpuqClient(gpuq.url);
    expect(await refusal(anonymous.list())).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    const wrong = new GpuqClient(gpuq.url, { token: `${plaintext.viewer!.slice(0, -4)}AAAA` });
    expect(await refusal(wrong.list())).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    const res = await fetch(`${gpuq.url}/v1/jobs`, { headers: { authorization: 'Bearer nonsense' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="gpuq", error="invalid_token"');
    // Liveness and readiness stay open for load balancers; metrics do not.
    expect((await fetch(`${gpuq.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${gpuq.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${gpuq.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${gpuq.url}/metrics`, { headers: { authorization: `Bearer ${plaintext.viewer}` } })).status).toBe(200);

    const { token: temp } = await clients.admin.createToken('temp', 'viewer');
    const tempClient = new GpuqClient(gpuq.url, { token: temp });
    await tempClient.list();
    const id = (await clients.admin.listTokens()).tokens.find((t) => t.name === 'temp')!.id;
    const revoke = await runCli(['token', 'revoke', id], { GPUQ_URL: gpuq.url, GPUQ_TOKEN: plaintext.admin! });
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(await refusal(tempClient.list())).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('maps 401 and 403 to exit code 7 in the CLI', async () => {
    const env = { GPUQ_URL: gpuq.url };
    const forbidden = await runCli(['submit', '--', 'true'], { ...env, GPUQ_TOKEN: plaintext.viewer! });
    expect(forbidden.code).toBe(7);
    expect(forbidden.stderr).toContain('[FORBIDDEN]');
    const missing = await runCli(['ls'], { ...env, GPUQ_TOKEN: '' });
    expect(missing.code).toBe(7);
    expect(missing.stderr).toContain('[UNAUTHENTICATED]');
    expect((await runCli(['ls', '--token', plaintext.viewer!], env)).code).toBe(0);
  });

  it('writes operator actions to the audit log with actor, role and outcome, denied attempts included', async () => {
    expect(await clients.ops.setMaintenance('drain')).toMatchObject({ mode: 'drain' });
    expect(await clients.ops.setMaintenance('normal')).toMatchObject({ mode: 'normal' });
    const { entries } = await clients.ops.audit({ limit: 100 });
    const rows = entries.map((e: AuditEntry) => [e.actor, e.role, e.action, e.target, e.outcome]);
    expect(rows).toContainEqual(['bob', 'submitter', 'control.maintenance', 'drain', 'denied']);
    expect(rows).toContainEqual(['ops', 'operator', 'control.maintenance', 'drain', 'ok']);
    expect(rows).toContainEqual(['ops', 'operator', 'control.maintenance', 'normal', 'ok']);
    expect(rows).toContainEqual(['agent', 'agent', 'control.maintenance', 'drain', 'denied']);
    expect(rows).toContainEqual(['agent', 'agent', 'tokens.create', 'token sneaky', 'denied']);
    expect(rows).toContainEqual(['viewer', 'viewer', 'queue.cancel', 'queue alice-q', 'denied']);
    expect(rows).toContainEqual(['bob', 'submitter', 'jobs.cancel.any', expect.stringMatching(/^job \d+ \(owner alice\)$/), 'denied']);
    expect(rows).toContainEqual(['ops', 'operator', 'jobs.cancel.any', expect.stringMatching(/^job \d+ \(owner alice\)$/), 'ok']);
    expect(rows).toContainEqual(['local', null, 'tokens.create', expect.stringMatching(/^token root \(tok_[0-9a-f]{16}\)$/), 'ok']);
    expect(rows).toContainEqual(['root', 'admin', 'tokens.create', expect.stringMatching(/^token ops \(tok_/), 'ok']);
    expect(rows).toContainEqual(['root', 'admin', 'tokens.revoke', expect.stringMatching(/^token temp \(tok_/), 'ok']);
    // The actor is named by token id too, and each entry has its time; newest first.
    const drained = entries.find((e) => e.actor === 'ops' && e.target === 'drain')!;
    expect(drained.actorTokenId).toMatch(/^tok_[0-9a-f]{16}$/);
    expect(drained.detail).toMatch(/^normal → drain; \d+ attempt\(s\) running$/);
    expect(entries.map((e) => e.id)).toEqual([...entries.map((e) => e.id)].sort((a, b) => b - a));
    // Only operators and admins read it; the CLI filters by action.
    expect(await refusal(clients.alice.audit())).toMatchObject({ status: 403 });
    const cli = await runCli(['audit', '--action', 'control.maintenance'], { GPUQ_URL: gpuq.url, GPUQ_TOKEN: plaintext.ops! });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/bob \(tok_[0-9a-f]{16}\)\s+submitter\s+control\.maintenance\s+drain\s+denied/);
    expect(cli.stdout).not.toContain('tokens.create');
  });
});

describe('gpuq up off loopback', () => {
  it('refuses --auth off on a non-loopback host, before listening', async () => {
    const r = await runCli(['up', '--host', '0.0.0.0', '--auth', 'off', '--port', '0', '--data-dir', tempDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"off" is refused when listening on 0.0.0.0');
  });

  it('requires tokens by default on a non-loopback host', async () => {
    const open = await startGpuq({ fakeGpus: 1, args: ['--host', '0.0.0.0'] });
    try {
      expect((await fetch(`${open.url}/v1/jobs`)).status).toBe(401);
      expect((await fetch(`${open.url}/healthz`)).status).toBe(200);
    } finally {
      await open.stop();
    }
  });
});

describe('gpuq token create --database-url', () => {
  it('bootstraps an admin token in a PostgreSQL store, which a server on that store then accepts', async () => {
    const schemas = new TestSchemas();
    const { schema, url } = await schemas.createForServer();
    try {
      const boot = await runCli(['token', 'create', '--role', 'admin', '--name', 'root', '--database-url', url]);
      expect(boot.code, boot.stderr).toBe(0);
      const token = boot.stdout.trim();
      const [row] = await schemas.query<{ name: string; role: string; token_hash: string }>(`SELECT name, role, token_hash FROM ${schema}.api_tokens`);
      expect(row).toMatchObject({ name: 'root', role: 'admin' });
      expect(row!.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(row!.token_hash).not.toContain(token);
      const pg = await startGpuq({ fakeGpus: 1, args: ['--database-url', url, '--auth', 'required'] });
      try {
        const admin = new GpuqClient(pg.url, { token });
        expect((await admin.listTokens()).tokens.map((t) => t.name)).toEqual(['root']);
        expect(await refusal(new GpuqClient(pg.url).listTokens())).toMatchObject({ status: 401 });
        expect((await admin.audit()).entries).toMatchObject([{ actor: 'local', action: 'tokens.create', outcome: 'ok', detail: expect.stringContaining('--database-url') }]);
      } finally {
        await pg.stop();
      }
    } finally {
      await schemas.drop(schema);
      await schemas.end();
    }
  });
});
