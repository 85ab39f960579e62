import type { FastifyInstance } from 'fastify';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';

/** A scheduler that has not finished a pass for this long is not alive. */
const SCHEDULER_STALE_MS = 10_000;

/**
 * Liveness, readiness, a detailed report, and Prometheus metrics. Liveness and
 * readiness stay open (load balancers and orchestrators probe them without a
 * token, and they tell only whether the server is up and ready); the detailed report and the
 * metrics describe jobs, nodes and queues, so with auth on they need a token
 * (a viewer's is enough: Prometheus sends it with `authorization: {credentials_file}`).
 */
export function healthRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/healthz', requires('public'), async () => ({ status: 'ok' }));

  const checks = async () => {
    let store: { ok: boolean; error?: string };
    try {
      await ctx.store.ping();
      store = { ok: true };
    } catch (e) {
      store = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    // Only the leader schedules; a server that does not lead serves the API and is ready without a scheduler.
    const leader = ctx.controlPlane.isLeader;
    const sinceLastPass = ctx.clock.now() - ctx.scheduler.lastPassAt;
    const scheduler = {
      ok: !leader || (sinceLastPass < SCHEDULER_STALE_MS && ctx.scheduler.lastError === null),
      leader,
      lastPassMsAgo: leader ? Math.round(sinceLastPass) : null,
      lastError: ctx.scheduler.lastError,
    };
    return { store, scheduler };
  };

  app.get('/health/ready', requires('public'), async (_req, reply) => {
    const { store, scheduler } = await checks();
    const ready = store.ok && scheduler.ok;
    reply.code(ready ? 200 : 503);
    return { status: ready ? 'ready' : 'not_ready', store, scheduler };
  });

  app.get('/health/detailed', requires('system.read'), async (_req, reply) => {
    const { store, scheduler } = await checks();
    const [nodes, live, stats] = store.ok ? await Promise.all([ctx.store.listNodes(), ctx.store.listLiveAttempts(), ctx.store.jobStats()]) : [[], [], null];
    const ok = store.ok && scheduler.ok;
    reply.code(ok ? 200 : 503);
    return {
      status: ok ? 'ok' : 'degraded',
      version: ctx.version,
      uptimeSeconds: Math.round((ctx.clock.now() - ctx.startedAt) / 1000),
      maintenance: ctx.controlPlane.maintenanceMode,
      store: { ...store, kind: ctx.storeKind },
      scheduler,
      agents: nodes.map((n) => ({ node: n.id, state: n.state, lastHeartbeatMsAgo: Math.round(ctx.clock.now() - n.lastHeartbeatAt), runningAttempts: live.filter((a) => a.nodeId === n.id).length })),
      devices: nodes.flatMap((n) => n.devices.map((d) => ({ node: n.id, index: d.index, name: d.name, simulated: d.simulated, healthy: d.healthy }))),
      jobs: stats?.byQueueState ?? [],
      dlq: stats?.dlqByQueue ?? [],
    };
  });

  app.get('/metrics', requires('system.read'), async (_req, reply) => {
    reply.type(ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
