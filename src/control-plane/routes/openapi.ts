import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { jobSpecSchema } from '../../core/job-spec.js';
import { poolSpecSchema } from '../../core/pool-spec.js';
import { requires, type RouteAccess } from '../auth.js';
import { HTTP_STATUS } from '../http-errors.js';
import { registerBody } from '../agent-schemas.js';
import { newTokenBody } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

type Op = { summary: string; body?: string; query?: string[]; ok?: number; stream?: boolean };

/** Every route of the API, described once; the OpenAPI document is built from this table. */
const ROUTES: Record<string, Record<string, Op>> = {
  '/v1/jobs': {
    post: { summary: 'Submit a job (a JobSpec) or a batch ({"jobs": [JobSpec, ...]}, at most 5000). 201 when created, 200 when an idempotencyKey matched an existing job. dependsOn names jobs that must exist (400 otherwise, nothing stored); a job whose dependency already failed or was cancelled is created failed.', body: 'JobSpec', ok: 201 },
    get: {
      summary:
        'List jobs, newest first by default. Filters: state=a,b; queue; label=k=v (repeatable); owner=<token id>, me, or a token name; name=<substring> (ASCII letters in either case). sort=-id (default), id, -priority, priority, -created, created, -updated, updated (ties broken by id). Pages of limit (≤ 1000) with nextCursor, which belongs to its sort.',
      query: ['state', 'queue', 'label', 'owner', 'name', 'sort', 'limit', 'cursor'],
    },
  },
  '/v1/jobs/counts': { get: { summary: 'Job counts: {queue, total, byState: {queued, assigned, running, succeeded, failed, cancelled}, dlq, queues: [{queue, total, byState, dlq}]}, of one queue with queue=Q.', query: ['queue'] } },
  '/v1/jobs/{id}': { get: { summary: 'A job with its attempts, every recorded transition, its dependencies with their states, and while queued what it waits for (waitingOn, waiting). Each attempt carries gpuUsage: [{device, gpuSeconds, meanUtilizationPct, peakUtilizationPct, peakMemoryMb, idleSeconds, samples}] (what each of its GPUs did: live figures while it runs, final once it ended; utilization time-weighted over its telemetry samples) and idleSince (ms since the epoch while all its GPUs have stayed under the idle utilization for the idle time, else null).' } },
  '/v1/jobs/{id}/cancel': { post: { summary: 'Cancel a job; a running attempt gets SIGTERM, then SIGKILL after the grace period. Jobs waiting for it end failed (dependentsFailed). A submitter may cancel only the jobs its token submitted (jobs.cancel.any, operator, for anyone\'s; audited).' } },
  '/v1/jobs/{id}/logs': { get: { summary: 'Log of an attempt (latest by default); follow=true streams until it ends.', query: ['attempt', 'tail', 'follow'], stream: true } },
  '/v1/jobs/{id}/result': { get: { summary: 'The JSON result the job left in $GPUQ_RESULT_FILE and its artifact list, from the latest attempt that reported them with its end (attempt=N for another): {jobId, attempt, state, nodeId, result (the JSON as written, or null), note (why a result was not kept), artifacts: [{name, bytes}]}. 404 while no attempt has.', query: ['attempt'] } },
  '/v1/jobs/{id}/artifacts': { get: { summary: 'The artifact list of the latest attempt that reported one (attempt=N for another): the files it left in $GPUQ_ARTIFACTS_DIR, {jobId, attempt, state, nodeId, note, artifacts: [{name, bytes}]}.', query: ['attempt'] } },
  '/v1/jobs/{id}/artifacts/{name}': { get: { summary: 'One artifact file, streamed (from the agent of the node it ran on, as logs). name is its path in the artifacts directory ("/" as is or as %2F); a name that could leave it is refused (400), one not listed is 404; an agent that cannot be reached is 502 NODE_UNREACHABLE.', query: ['attempt'], stream: true } },
  '/v1/queues/{queue}/cancel': { post: { summary: 'Cancel every queued and running job of a queue.' } },
  '/v1/dlq': { get: { summary: 'Jobs in the dead-letter queue.', query: ['queue', 'limit', 'cursor'] } },
  '/v1/dlq/replay': { post: { summary: 'Replay DLQ jobs: {"ids": [...]} or {"all": true, "queue"?: name}.' } },
  '/v1/dlq/purge': { post: { summary: 'Remove jobs from the DLQ (they stay failed until retention purges them).' } },
  '/v1/pools': {
    post: { summary: 'Create a warm worker pool (a PoolSpec: the worker\'s command, GPUs/CPUs/memory per replica, min/max replicas, target backlog, idle, task and start timeouts, attempts and backoff, concurrency, memory policy). 409 POOL_EXISTS; 422 when no node could ever hold a replica. Audited.', body: 'PoolSpec', ok: 201 },
    get: { summary: 'Every pool with its replicas (state pending|starting|ready|stopping|ended, node, GPUs, tasks done, end reason), backlog {runnable, queued, running}, throughput over the last minute, GPUs held and its latest cold start.' },
  },
  '/v1/pools/stop-all': { post: { summary: 'Stop every pool (graceful: replicas finish their in-flight tasks, then exit). Answers {stopped: [names]}. Audited.' } },
  '/v1/pools/{name}': {
    get: { summary: 'One pool, as in the list.' },
    patch: { summary: 'Change a pool (any PoolSpec field but name); its generation goes up and its replicas are replaced one by one as new ones become ready. Audited.' },
    delete: { summary: 'Delete a pool with its tasks; its live replicas are killed. Answers {deleted, evicted: [replica job ids]}. Audited.' },
  },
  '/v1/pools/{name}/stop': { post: { summary: 'Stop a pool: no replica starts, running ones finish their in-flight tasks and exit; new tasks are refused (409 POOL_STOPPED), queued ones wait. Audited.' } },
  '/v1/pools/{name}/start': { post: { summary: 'Start a stopped pool again. Audited.' } },
  '/v1/pools/{name}/evict': { post: { summary: 'Evict a pool now ({"reason"?}): it is stopped and its live replicas are killed (SIGTERM, grace, SIGKILL); their in-flight tasks are redelivered once it is started again. Answers {evicted: [replica job ids]}. Audited.' } },
  '/v1/pools/{name}/tasks': {
    post: { summary: 'Submit a task ({"payload": any JSON, "idempotencyKey"?}) or a batch ({"tasks": [...]}, at most 5000; each payload at most 1 MiB of JSON). wait=SECONDS (≤ 300) answers once every task is final (or the wait ran out): submit-and-wait. 201 when created, 200 when an idempotencyKey matched.', query: ['wait'], ok: 201 },
    get: { summary: 'Tasks of a pool, newest first: state=a,b; dlq=true for the pool\'s dead-letter queue; pages of limit with nextCursor.', query: ['state', 'dlq', 'limit', 'cursor'] },
  },
  '/v1/pools/{name}/tasks/{id}': { get: { summary: 'One task: state, attempts, the history of its redeliveries, its result or error. wait=SECONDS (≤ 300) long-polls until it is final.', query: ['wait'] } },
  '/v1/pools/{name}/dlq/replay': { post: { summary: 'Replay tasks of the pool\'s DLQ ({"ids": [...]} or {"all": true}) with a fresh attempt budget. Audited.' } },
  '/v1/pools/{name}/replicas/{job}/ready': { post: { summary: 'A replica host: its worker said ready ({"attemptId"}). Authenticated by the attempt\'s pool credential (GPUQ_POOL_CREDENTIAL), not an API token; 410 REPLICA_GONE when the attempt is no longer the replica\'s live one.' } },
  '/v1/pools/{name}/replicas/{job}/exchange': { post: { summary: 'A replica host\'s round trip ({"attemptId", "results": [{taskId, attempt, result} | {taskId, attempt, error, retryable}], "held": [taskId], "want", "waitMs"}): records the results (each accepted once, for the task\'s current delivery), then answers {tasks: [{id, attempt, payload}], stop}: first the tasks running under this attempt that are not in held (claimed by an exchange whose answer was lost), at the same attempt, then new ones, up to want in all, waiting up to waitMs for a task. held: the tasks the host holds (in its worker, or answered with the result not in this request), at most 1024. ADR 0016, docs/pool-protocol.md.' } },
  '/v1/pools/{name}/replicas/{job}/end': { post: { summary: 'A replica host says why it is about to exit ({"attemptId", "reason", "detail"}): oom, task-timeout, start-timeout, protocol-error, crashed, stopped.' } },
  '/v1/pipelines': {
    post: { summary: 'Create a pipeline (ADR 0018): {"name", "description"?, "steps": [{"name", "job": JobSpec without dependsOn/idempotencyKey, "fanOut"?}], "onFailure"?: JobSpec, "outputDir": "/abs"}. 400 naming the field; 409 PIPELINE_EXISTS; 422 when a step could never be placed. Audited.', ok: 201 },
    get: { summary: 'Every pipeline definition.' },
  },
  '/v1/pipelines/{name}': {
    get: { summary: 'One pipeline and its 20 latest runs.' },
    delete: { summary: 'Delete a pipeline definition; its runs (and their jobs) are kept. Audited.' },
  },
  '/v1/pipelines/{name}/runs': { post: { summary: 'Start a run: {"inputs": [{"path": "/abs/file"} (read by the server) | {"name", "data": base64}]}. The run and all its jobs are stored at once (jobs linked by dependsOn, owned by the caller); answers the run with its jobs. 503 in maintenance drain.', ok: 201 } },
  '/v1/triggers': {
    post: { summary: 'Create a directory trigger (ADR 0018): {"name", "pipeline", "directory": "/abs", "complete"?: {"mode": "settle", "settleMs"} | {"mode": "marker", "suffix"} | {"mode": "rename"}, "ignore"?: [glob], "pollMs"?}. Each complete file starts one run of the pipeline (claimed once, durably). Audited.', ok: 201 },
    get: { summary: 'Every directory trigger, paused or not.' },
  },
  '/v1/triggers/{name}': { get: { summary: 'One trigger.' }, delete: { summary: 'Delete a trigger: nothing more is claimed; runs already started go on, their files stay in .processing/. Audited.' } },
  '/v1/triggers/{name}/retry': { post: { summary: 'Put a file whose run failed back into the watched directory ({"file": "name"}, from failed/; its reason file removed): it is claimed again and runs anew. Audited.' } },
  '/v1/triggers/pause': { post: { summary: 'Pause triggers: {"names": [...]} or {"all": true}. Durable; nothing new is claimed until resumed. Audited.' } },
  '/v1/triggers/resume': { post: { summary: 'Resume triggers: {"names": [...]} or {"all": true}. Audited.' } },
  '/v1/schedules': {
    post: { summary: 'Create a schedule (ADR 0018): {"name", "cron": "m h dom mon dow" (UTC; an optional seconds field first), "target": {"pipeline": NAME} (a run with no inputs) | {"job": {...job spec}}, "missed"?: "once" (default) | "skip" | "all"}. Each time fires once, durably. Audited.', ok: 201 },
    get: { summary: 'Every schedule, paused or not, with how far it has fired (lastFireAt).' },
  },
  '/v1/schedules/{name}': { get: { summary: 'One schedule and its latest fires (the job or run each started).' }, delete: { summary: 'Delete a schedule: nothing more fires; what it started goes on. Audited.' } },
  '/v1/schedules/pause': { post: { summary: 'Pause schedules: {"names": [...]} or {"all": true}. Durable; nothing fires until resumed, and the paused time is not caught up. Audited.' } },
  '/v1/schedules/resume': { post: { summary: 'Resume schedules: {"names": [...]} or {"all": true}; they fire from now on. Audited.' } },
  '/v1/pipeline-runs': { get: { summary: 'Pipeline runs, newest first: pipeline=NAME, before=ID (paging; nextBefore in the answer), limit (≤ 1000).', query: ['pipeline', 'before', 'limit'] } },
  '/v1/pipeline-runs/{id}': { get: { summary: 'One run: state (running|succeeded|failed|cancelled), reason, inputs, run directory, each job (step, lane, job id, state), the published outputs, the on-failure job.' } },
  '/v1/nodes': { get: { summary: 'Nodes with their admin state (active|cordoned|draining), live attempts and drained flag, their devices (simulated ones marked), latest telemetry and the attempt holding each device.' } },
  '/v1/nodes/{node}': { get: { summary: 'One node with its admin state (active|cordoned|draining), its live attempts and, when draining, whether it is drained.' } },
  '/v1/nodes/{node}/cordon': { post: { summary: 'Cordon a node: no new attempts go there; running ones go on. Survives agent restarts. Answers {node}. Audited.' } },
  '/v1/nodes/{node}/drain': { post: { summary: 'Drain a node: cordon it and report drained (drained: true) once its live attempts have ended. Answers {node} with liveAttempts and drained. Audited.' } },
  '/v1/nodes/{node}/uncordon': { post: { summary: 'Uncordon a node (also ends a drain): it takes new attempts again. Answers {node}. Audited.' } },
  '/v1/nodes/{node}/devices/{index}/telemetry': { get: { summary: 'Telemetry history of one device.', query: ['sinceMs'] } },
  '/v1/control/maintenance': {
    get: { summary: 'The maintenance mode.' },
    post: { summary: 'Set the maintenance mode: {"mode": "drain"} refuses new jobs (503) and starts nothing new; {"mode": "normal"} resumes. Survives restarts.' },
  },
  '/v1/intake': { get: { summary: 'Broker intake (ADR 0017): the pause state ({all, sources}), whether drain stops it, whether this server leads, each source (Redis Streams or NATS JetStream: state consuming|paused|standby|error, received, acked, deadLettered, pending, lag, lastError) and each result sink (published, cursor).' } },
  '/v1/intake/pause': { post: { summary: 'Pause intake: {"sources": [names]} or {"all": true} (the emergency stop: every source stops within a second). Durable (survives restarts) and audited; resume continues where it stopped. Answers {paused}.' } },
  '/v1/intake/resume': { post: { summary: 'Resume intake: {"sources": [names]} or {"all": true} (clears the emergency stop and every source\'s own pause). Audited. Answers {paused}.' } },
  '/v1/tokens': {
    post: { summary: 'Create an API token: {"name", "role"}. The answer holds the token itself, shown this once; only its SHA-256 is stored. Audited.', body: 'NewToken', ok: 201 },
    get: { summary: 'API tokens (never their hashes); all=true includes revoked ones.', query: ['all'] },
  },
  '/v1/tokens/{id}': { delete: { summary: 'Revoke a token: it is refused (401) from now on, on every server. Audited.' } },
  '/v1/events': {
    get: {
      summary:
        'The event feed, as server-sent events (text/event-stream; each event framed "id: N", "event: TYPE", "data: JSON"; a ": ping" comment every 15 s) followed as changes commit on any replica: job.state (jobId, name, queue, labels, owner, attempt, nodeId, devices, from, to, reason, inDlq), job.idle, node.state, node.admin, device.health, maintenance, leader, pool.created|updated|stopped|started|deleted (pool, generation), pool.replica.ready (pool, jobId, attemptId), pipeline.run.ended (run, pipeline, state, reason, source, outputs, onFailureJobId). Resumes after the Last-Event-ID header (or after=ID): every event missed, none twice; without either, from now on (after=0: everything kept). An id older than the retention window (gpuq up --event-retention-hours, default 24) gets a first "event: resync" {reason, oldestId}. follow=false answers one JSON page {events, lastEventId, resync?} (without after: the newest limit events). Filters: types (comma list of types, or job / node / pool / pipeline), job, queue; each must hold.',
      query: ['types', 'job', 'queue', 'after', 'follow', 'limit'],
    },
  },
  '/v1/audit': { get: { summary: 'The audit log of operator actions (who, when, what, target, outcome ok|denied|failed, detail), newest first.', query: ['action', 'limit', 'cursor'] } },
  '/v1/report': {
    get: {
      summary:
        'The SLO report over [since, until) (since: a duration back from now such as 30m, 24h, 7d, or an ISO 8601 time; default 24h; until likewise, default now), of one queue with queue=Q, computed from the store: successRate, queueWaitSeconds {p50, p95, p99}, runSeconds {p50, p95}, attemptsPerJob, dlqInflow, gpuUtilization {meanOverRunning, meanOverAll}, gpuHours, gpuCapacityHours, gpuHoursByQueue, gpuHoursByOwner, idleGpuHours, gpus {capacity, simulated}, jobs {succeeded, failed, cancelled, retried, queuedNow, runningNow}, thresholds, and lines [{key, label, value, unit, threshold {min, max, text} | null, status ok | breached | n/a}]. Objectives: gpuq up --slo-*.',
      query: ['since', 'until', 'queue'],
    },
  },
  '/v1/status/leader': { get: { summary: 'Which server leads the control plane (schedules, reclaims, purges), its term and lease; whether this server leads; and the replicas alive now (every server records itself at each step of the leader election): [{id, url, startedAt, lastSeenAt, leader}].' } },
  '/v1/agents/register': { post: { summary: 'A remote agent (gpuq agent) registers its node: {"node": {id, hostname, labels, cpus, memoryMb, maxRunning, devices, incarnation}, "logUrl"?, "logSecret"?}. Answers {sessionId, liveAttemptIds, leaseMs, idlePolicy} (the attempts the store still holds live on the node; the idle policy {utilizationPct, idleMs} the agent applies to the GPUs of its attempts); replaces the node\'s previous session.', body: 'AgentRegistration' } },
  '/v1/agents/{nodeId}/work': { get: { summary: 'Long-poll of an agent session for work: answers {seq, run: [attempts], cancel: [{attemptId, reason}]} at once when something is queued, else within waitMs (default 25000). Messages stay queued until acknowledged with ack=<seq> on the next poll (at-least-once). 410 AGENT_SESSION_EXPIRED: register again.', query: ['session', 'ack', 'waitMs'] } },
  '/v1/agents/{nodeId}/leave': { post: { summary: 'The agent stops cleanly ({"incarnation"}): its node is marked down at once, so no new work is placed there until it registers again; a call from an older incarnation changes nothing. Answers {left}.' } },
  '/v1/agents/{nodeId}/heartbeat': { post: { summary: 'Renews the leases of the node\'s running attempts ({"runningAttemptIds", "telemetry"?, "usage"?: [{attemptId, idleSince, gpuUsage}]}: the running attempts\' GPU figures so far and idle flags, decided by the agent with the idle policy its registration answered, idlePolicy); answers {liveAttemptIds}: the agent kills any attempt not listed (reclaimed).' } },
  '/v1/agents/{nodeId}/started': { post: { summary: 'Attempt starts ({"reports": [{attemptId, pid, logPath, startedAt}]}); answers {results: [{attemptId, accepted}]}. Fenced by attempt: a report for an attempt that is no longer live changes nothing.' } },
  '/v1/agents/{nodeId}/ended': { post: { summary: 'Attempt ends ({"reports": [{attemptId, end: {state, retryable, reason}, exitCode, signal, endedAt, output?, gpuUsage?, ...}]}); fenced by attempt like starts. gpuUsage (each GPU\'s final figures) is recorded with the end.' } },
  '/healthz': { get: { summary: 'Liveness: {"status":"ok"}.' } },
  '/health/ready': { get: { summary: 'Readiness: the store answers and the scheduler is alive (503 otherwise).' } },
  '/health/detailed': { get: { summary: 'Store, scheduler, agents, devices, maintenance mode and version.' } },
  '/metrics': { get: { summary: 'Prometheus metrics.' } },
  '/v1/openapi.json': { get: { summary: 'This document.' } },
  '/v1/whoami': { get: { summary: 'The caller: {name, role, tokenId, auth, actions} (name "local" and role null with auth off); actions lists what its role may do.' } },
  '/': { get: { summary: 'Redirects to the web dashboard (/ui/).' } },
  '/ui': { get: { summary: 'Redirects to /ui/.' } },
  '/ui/{name}': { get: { summary: 'The web dashboard\'s static files (no data, no token needed; every figure it shows comes from this API with the token it is given). A path with no extension is a page of the dashboard (index.html).', stream: true } },
};

/** The OpenAPI path of a fastify route: /v1/jobs/:id → /v1/jobs/{id}. */
const openApiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}').replace(/\/\*$/, '/{name}');

/**
 * The document, built from the table above and from what each registered route
 * requires (`access`, keyed "METHOD /fastify/:path"): a route missing from
 * either is an error, so the document cannot fall behind the API.
 */
export function openApiDocument(version: string, access: ReadonlyMap<string, RouteAccess>): unknown {
  const needs = new Map<string, RouteAccess>();
  for (const [key, a] of access) {
    const [method, url] = key.split(' ');
    needs.set(`${method!.toLowerCase()} ${openApiPath(url!)}`, a);
  }
  const paths: Record<string, unknown> = {};
  for (const [path, ops] of Object.entries(ROUTES)) {
    const entry: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(ops)) {
      const action = needs.get(`${method} ${path}`);
      if (action === undefined) throw new Error(`the OpenAPI table lists ${method.toUpperCase()} ${path}, which the server does not register`);
      needs.delete(`${method} ${path}`);
      const params = [
        ...[...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
        ...(op.query ?? []).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
      ];
      entry[method] = {
        summary: op.summary,
        // Public routes need no token; every other one needs a token whose role has the action (with auth on).
        security: action === 'public' ? [] : [{ bearerToken: [] }],
        'x-gpuq-action': action,
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } } } } : {}),
        responses: {
          [String(op.ok ?? 200)]: { description: 'OK', content: { [op.stream ? (path.includes('/artifacts/') ? 'application/octet-stream' : 'text/plain') : 'application/json']: {} } },
          '4XX': { description: 'The request was refused; nothing changed.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
    }
    paths[path] = entry;
  }
  if (needs.size > 0) throw new Error(`the OpenAPI table misses ${[...needs.keys()].join(', ')}`);
  return {
    openapi: '3.1.0',
    info: {
      title: 'gpuq',
      version,
      description:
        'GPU job orchestrator API. With auth on (`gpuq up --auth required`, the default off loopback) every route but the public ones needs `Authorization: Bearer <token>`; `x-gpuq-action` names the action a route needs, and roles grant actions: viewer (read) ⊂ submitter (submit, cancel own jobs) ⊂ operator (cancel any, queues, DLQ replay and purge, maintenance, pools, audit log) ⊂ admin (tokens); agent (agent endpoints only).',
    },
    paths,
    components: {
      securitySchemes: { bearerToken: { type: 'http', scheme: 'bearer', description: 'An API token (gpuq_…), from `gpuq token create`.' } },
      schemas: {
        JobSpec: z.toJSONSchema(jobSpecSchema, { io: 'input', unrepresentable: 'any' }),
        PoolSpec: z.toJSONSchema(poolSpecSchema, { io: 'input', unrepresentable: 'any' }),
        NewToken: z.toJSONSchema(newTokenBody, { io: 'input', unrepresentable: 'any' }),
        AgentRegistration: z.toJSONSchema(registerBody, { io: 'input', unrepresentable: 'any' }),
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { enum: Object.keys(HTTP_STATUS) },
                message: { type: 'string' },
                issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
              },
            },
          },
        },
      },
    },
  };
}

export function openApiRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/openapi.json', requires('public'), async () => doc);
  // Registered last: every other route is in app.routeAccess by now. Built once, at start, so a mismatch fails the start, not a request.
  const doc = openApiDocument(ctx.version, app.routeAccess);
}
