import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../core/errors.js';
import type { NodeRegistration } from '../../core/types.js';
import { endedBody, heartbeatBody, leaveBody, nodeParams, registerBody, startedBody, workQuery } from '../agent-schemas.js';
import { requires } from '../auth.js';
import { RemoteAgentSessions } from '../remote-agent-session.js';
import { parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

/**
 * The endpoints remote agents (`gpuq agent`, src/agent/remote-agent.ts) call:
 * the HTTP form of agent-link.ts. Registration, heartbeats and reports go
 * straight to the control plane's ControlPlaneLink methods, so they are fenced
 * by attempt exactly as the local agent's are. Work reaches an agent through a
 * long-poll on its session (remote-agent-session.ts), which the node's
 * AgentFeed fills, whichever server decided the work.
 *
 * An agent token may speak for any node: agent tokens are given to the
 * machines that run jobs, which are trusted with the work anyway.
 */
export function agentRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const sessions = new RemoteAgentSessions(ctx.controlPlane, ctx.clock, app.log.child({ component: 'agent-sessions' }));
  // Before the server waits for in-flight requests to finish: waiting long-polls answer now, not after their wait.
  app.addHook('preClose', async () => sessions.close());

  app.post('/v1/agents/register', requires('agent.register'), async (req) => {
    const body = parseRequest(registerBody, req.body);
    const node: NodeRegistration = { ...body.node, lastHeartbeatAt: ctx.clock.now(), state: 'up' };
    const { liveAttemptIds, leaseMs, idlePolicy } = await ctx.controlPlane.register(node);
    // Replaced at every registration: the log server's port and secret are new with each agent run.
    await ctx.store.setNodeLogEndpoint(node.id, body.logUrl !== undefined && body.logSecret !== undefined ? { url: body.logUrl, secret: body.logSecret } : null);
    const session = sessions.open(node.id);
    return { sessionId: session.id, liveAttemptIds, leaseMs, idlePolicy };
  });

  app.get('/v1/agents/:nodeId/work', requires('agent.heartbeat'), async (req) => {
    const { nodeId } = parseRequest(nodeParams, req.params);
    const q = parseRequest(workQuery, req.query);
    return sessions.poll(nodeId, q.session, q.ack, q.waitMs);
  });

  app.post('/v1/agents/:nodeId/heartbeat', requires('agent.heartbeat'), async (req) => {
    const { nodeId } = parseRequest(nodeParams, req.params);
    const body = parseRequest(heartbeatBody, req.body);
    const other = body.telemetry.findIndex((t) => t.nodeId !== nodeId);
    if (other >= 0) throw new ValidationError([{ path: `telemetry.${other}.nodeId`, message: `must be ${nodeId}, the node this heartbeat is for` }]);
    return ctx.controlPlane.heartbeat(nodeId, body.runningAttemptIds, body.telemetry, body.usage, body.hostMemory);
  });

  app.post('/v1/agents/:nodeId/leave', requires('agent.heartbeat'), async (req) => {
    const { nodeId } = parseRequest(nodeParams, req.params);
    const { incarnation } = parseRequest(leaveBody, req.body);
    return { left: await ctx.controlPlane.leave(nodeId, incarnation) };
  });

  app.post('/v1/agents/:nodeId/started', requires('agent.report'), async (req) => {
    parseRequest(nodeParams, req.params);
    const { reports } = parseRequest(startedBody, req.body);
    return { results: await ctx.controlPlane.reportStarted(reports) };
  });

  app.post('/v1/agents/:nodeId/ended', requires('agent.report'), async (req) => {
    parseRequest(nodeParams, req.params);
    const { reports } = parseRequest(endedBody, req.body);
    return { results: await ctx.controlPlane.reportEnded(reports) };
  });
}
