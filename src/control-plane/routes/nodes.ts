import type { FastifyInstance } from 'fastify';
import { GpuqError } from '../../core/errors.js';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { nodeDeviceParams, parseRequest, telemetryQuery } from '../request-schemas.js';

/** Nodes and their devices, with the latest telemetry and what each device is running. */
export function nodeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/nodes', requires('nodes.read'), async () => {
    const [nodes, telemetry, live] = await Promise.all([ctx.store.listNodes(), ctx.store.latestTelemetry(), ctx.store.listLiveAttempts()]);
    const latest = new Map(telemetry.map((t) => [`${t.nodeId}/${t.index}`, t]));
    const holder = new Map<string, { jobId: number; attemptId: number }>();
    for (const a of live) for (const d of a.devices) holder.set(`${a.nodeId}/${d}`, { jobId: a.jobId, attemptId: a.id });
    return {
      nodes: nodes.map((n) => ({
        ...n,
        devices: n.devices.map((d) => ({
          ...d,
          telemetry: latest.get(`${n.id}/${d.index}`) ?? null,
          heldBy: holder.get(`${n.id}/${d.index}`) ?? null,
        })),
      })),
    };
  });

  app.get('/v1/nodes/:node/devices/:index/telemetry', requires('nodes.read'), async (req) => {
    const { node, index } = parseRequest(nodeDeviceParams, req.params);
    const { sinceMs } = parseRequest(telemetryQuery, req.query);
    const nodes = await ctx.store.listNodes();
    const n = nodes.find((x) => x.id === node);
    if (!n || !n.devices.some((d) => d.index === index)) throw new GpuqError('NOT_FOUND', `no device ${index} on node ${node}`);
    return { samples: await ctx.store.telemetryHistory(node, index, sinceMs ?? ctx.clock.now() - 3600_000) };
  });
}
