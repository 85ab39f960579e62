import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { jobSpecSchema } from '../../core/job-spec.js';
import { HTTP_STATUS } from '../http-errors.js';
import type { ServerContext } from '../server-context.js';

type Op = { summary: string; body?: string; query?: string[]; ok?: number; stream?: boolean };

/** Every route of the API, described once; the OpenAPI document is built from this table. */
const ROUTES: Record<string, Record<string, Op>> = {
  '/v1/jobs': {
    post: { summary: 'Submit a job (a JobSpec) or a batch ({"jobs": [JobSpec, ...]}, at most 5000). 201 when created, 200 when an idempotencyKey matched an existing job.', body: 'JobSpec', ok: 201 },
    get: { summary: 'List jobs, newest first.', query: ['state', 'queue', 'label', 'limit', 'cursor'] },
  },
  '/v1/jobs/{id}': { get: { summary: 'A job with its attempts and every recorded transition.' } },
  '/v1/jobs/{id}/cancel': { post: { summary: 'Cancel a job; a running attempt gets SIGTERM, then SIGKILL after the grace period.' } },
  '/v1/jobs/{id}/logs': { get: { summary: 'Log of an attempt (latest by default); follow=true streams until it ends.', query: ['attempt', 'tail', 'follow'], stream: true } },
  '/v1/queues/{queue}/cancel': { post: { summary: 'Cancel every queued and running job of a queue.' } },
  '/v1/dlq': { get: { summary: 'Jobs in the dead-letter queue.', query: ['queue', 'limit', 'cursor'] } },
  '/v1/dlq/replay': { post: { summary: 'Replay DLQ jobs: {"ids": [...]} or {"all": true, "queue"?: name}.' } },
  '/v1/dlq/purge': { post: { summary: 'Remove jobs from the DLQ (they stay failed until retention purges them).' } },
  '/v1/nodes': { get: { summary: 'Nodes, their devices (simulated ones marked), latest telemetry and the attempt holding each device.' } },
  '/v1/nodes/{node}/devices/{index}/telemetry': { get: { summary: 'Telemetry history of one device.', query: ['sinceMs'] } },
  '/v1/control/maintenance': {
    get: { summary: 'The maintenance mode.' },
    post: { summary: 'Set the maintenance mode: {"mode": "drain"} refuses new jobs (503) and starts nothing new; {"mode": "normal"} resumes. Survives restarts.' },
  },
  '/healthz': { get: { summary: 'Liveness: {"status":"ok"}.' } },
  '/health/ready': { get: { summary: 'Readiness: the store answers and the scheduler is alive (503 otherwise).' } },
  '/health/detailed': { get: { summary: 'Store, scheduler, agents, devices, maintenance mode and version.' } },
  '/metrics': { get: { summary: 'Prometheus metrics.' } },
  '/v1/openapi.json': { get: { summary: 'This document.' } },
};

export function openApiDocument(version: string): unknown {
  const paths: Record<string, unknown> = {};
  for (const [path, ops] of Object.entries(ROUTES)) {
    const entry: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(ops)) {
      const params = [
        ...[...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
        ...(op.query ?? []).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
      ];
      entry[method] = {
        summary: op.summary,
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${op.body}` } } } } } : {}),
        responses: {
          [String(op.ok ?? 200)]: { description: 'OK', content: { [op.stream ? 'text/plain' : 'application/json']: {} } },
          '4XX': { description: 'The request was refused; nothing changed.', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
    }
    paths[path] = entry;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'gpuq', version, description: 'GPU job orchestrator API.' },
    paths,
    components: {
      schemas: {
        JobSpec: z.toJSONSchema(jobSpecSchema, { io: 'input', unrepresentable: 'any' }),
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
  const doc = openApiDocument(ctx.version);
  app.get('/v1/openapi.json', async () => doc);
}
