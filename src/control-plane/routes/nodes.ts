import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditAction } from '../../core/access.js';
import { GpuqError, NodeNotFoundError } from '../../core/errors.js';
import type { NodeAdminState, NodeInfo } from '../../core/types.js';
import { audited, principalOf, requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';
import { nodeDeviceParams, nodeParams, parseRequest, telemetryQuery } from '../request-schemas.js';

/** The node an operator action names, read from params that may be invalid (the audit target of a refusal). */
const nodeTarget = (req: FastifyRequest): string => `node ${String((req.params as { node?: unknown } | undefined)?.node ?? '?')}`;

/** The three operator actions on a node: the admin state each sets and its audit name. */
const ADMIN_ACTIONS: { verb: 'cordon' | 'drain' | 'uncordon'; state: NodeAdminState; audit: AuditAction }[] = [
  { verb: 'cordon', state: 'cordoned', audit: 'nodes.cordon' },
  { verb: 'drain', state: 'draining', audit: 'nodes.drain' },
  { verb: 'uncordon', state: 'active', audit: 'nodes.uncordon' },
];

/**
 * What the API says of a node's admin state beyond the stored field: how many attempts still
 * live there and, for a draining node, whether it is drained (no live attempt left). Cordoned
 * and draining nodes take no new attempts, so once drained a node stays drained.
 */
function lifecycle(node: NodeInfo, liveAttempts: number): { liveAttempts: number; drained: boolean | null } {
  return { liveAttempts, drained: node.adminState === 'draining' ? liveAttempts === 0 : null };
}

/** Nodes and their devices, with the latest telemetry and what each device is running; cordon, drain and uncordon. */
export function nodeRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/nodes', requires('nodes.read'), async () => {
    const [nodes, telemetry, live] = await Promise.all([ctx.store.listNodes(), ctx.store.latestTelemetry(), ctx.store.listLiveAttempts()]);
    const latest = new Map(telemetry.map((t) => [`${t.nodeId}/${t.index}`, t]));
    const holder = new Map<string, { jobId: number; attemptId: number }>();
    const liveOn = new Map<string, number>();
    for (const a of live) {
      liveOn.set(a.nodeId, (liveOn.get(a.nodeId) ?? 0) + 1);
      for (const d of a.devices) holder.set(`${a.nodeId}/${d}`, { jobId: a.jobId, attemptId: a.id });
    }
    return {
      nodes: nodes.map((n) => ({
        ...n,
        ...lifecycle(n, liveOn.get(n.id) ?? 0),
        devices: n.devices.map((d) => ({
          ...d,
          telemetry: latest.get(`${n.id}/${d.index}`) ?? null,
          heldBy: holder.get(`${n.id}/${d.index}`) ?? null,
        })),
      })),
    };
  });

  app.get('/v1/nodes/:node', requires('nodes.read'), async (req) => {
    const { node: nodeId } = parseRequest(nodeParams, req.params);
    const node = await ctx.store.getNode(nodeId);
    if (!node) throw new NodeNotFoundError(nodeId);
    return { node: { ...node, ...lifecycle(node, (await ctx.store.listLiveAttempts(nodeId)).length) } };
  });

  for (const { verb, state, audit } of ADMIN_ACTIONS) {
    app.post(`/v1/nodes/:node/${verb}`, requires('nodes.manage', audited(audit, nodeTarget)), async (req) => {
      const { node: nodeId } = parseRequest(nodeParams, req.params);
      return ctx.audit.runAtomic(principalOf(req), audit, `node ${nodeId}`, async (ok) => {
        const before = (await ctx.store.getNode(nodeId))?.adminState;
        const live = (await ctx.store.listLiveAttempts(nodeId)).length;
        // No record for an unknown node here: the action then fails, and is recorded `failed`.
        const node = await ctx.controlPlane.setNodeAdminState(nodeId, state, (n) => (n === null ? null : ok(`${before === state ? `already ${state}` : `${before ?? '?'} → ${state}`}; ${live} attempt(s) live`)));
        return { node: { ...node, ...lifecycle(node, live) } };
      });
    });
  }

  app.get('/v1/nodes/:node/devices/:index/telemetry', requires('nodes.read'), async (req) => {
    const { node, index } = parseRequest(nodeDeviceParams, req.params);
    const { sinceMs } = parseRequest(telemetryQuery, req.query);
    const n = await ctx.store.getNode(node);
    if (!n) throw new NodeNotFoundError(node);
    if (!n.devices.some((d) => d.index === index)) throw new GpuqError('NOT_FOUND', `no device ${index} on node ${node}`);
    return { samples: await ctx.store.telemetryHistory(node, index, sinceMs ?? ctx.clock.now() - 3600_000) };
  });
}
