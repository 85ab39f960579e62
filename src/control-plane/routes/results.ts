import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { FastifyInstance } from 'fastify';
import { attemptArtifactsDir, openArtifact } from '../../agent/attempt-output.js';
import { GpuqError } from '../../core/errors.js';
import type { JobOutput } from '../../core/job-output.js';
import { requires } from '../auth.js';
import { openRemoteArtifact } from '../remote-logs.js';
import { artifactParams, jobIdParams, outputQuery, parseRequest } from '../request-schemas.js';
import type { ServerContext } from '../server-context.js';

/**
 * Job results and artifacts (core/job-output.ts): what an attempt reported with its end (by default the
 * latest attempt that reported; `?attempt=N` for another), and its artifact files, read where they are:
 * from this server's data directory for attempts of `gpuq up`'s own agent, else through the node's agent
 * (its log server, as logs are: remote-logs.ts). Reading them is reading the job: `jobs.read`, as for logs.
 */
export function resultRoutes(app: FastifyInstance, ctx: ServerContext): void {
  /** The output asked for, or NOT_FOUND saying why there is none. */
  async function outputOf(jobId: number, attempt: number | undefined): Promise<JobOutput> {
    const out = await ctx.store.getJobOutput(jobId, attempt);
    if (out) return out;
    // None: say why (and JOB_NOT_FOUND for a job that does not exist).
    const job = await ctx.controlPlane.getJob(jobId);
    if (attempt !== undefined) throw new GpuqError('NOT_FOUND', `job ${jobId} attempt ${attempt} reported no result or artifacts (it has not ended, ran nothing, or was lost with its agent)`);
    throw new GpuqError('NOT_FOUND', `job ${jobId} has no result yet: no attempt of it has ended and reported one (the job is ${job.state})`);
  }

  app.get('/v1/jobs/:id/result', requires('jobs.read'), async (req, reply) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const { attempt } = parseRequest(outputQuery, req.query);
    const out = await outputOf(id, attempt);
    // The result is embedded as the JSON text the job wrote (validated when reported): numbers keep their spelling and precision.
    const head = JSON.stringify({ jobId: out.jobId, attempt: out.attempt, state: out.state, nodeId: out.nodeId });
    const tail = JSON.stringify({ note: out.note, artifacts: out.artifacts });
    reply.type('application/json; charset=utf-8');
    return `${head.slice(0, -1)},"result":${out.result ?? 'null'},${tail.slice(1)}`;
  });

  app.get('/v1/jobs/:id/artifacts', requires('jobs.read'), async (req) => {
    const { id } = parseRequest(jobIdParams, req.params);
    const { attempt } = parseRequest(outputQuery, req.query);
    const out = await outputOf(id, attempt);
    return { jobId: out.jobId, attempt: out.attempt, state: out.state, nodeId: out.nodeId, note: out.note, artifacts: out.artifacts };
  });

  // The name may hold "/" (a file in a subdirectory), as is or encoded (%2F).
  app.get('/v1/jobs/:id/artifacts/*', requires('jobs.read'), async (req, reply) => {
    const { id, '*': name } = parseRequest(artifactParams, req.params);
    const { attempt } = parseRequest(outputQuery, req.query);
    const out = await outputOf(id, attempt);
    if (!out.artifacts.some((a) => a.name === name)) {
      throw new GpuqError('NOT_FOUND', `job ${id} attempt ${out.attempt} has no artifact "${name}"; \`gpuq artifacts ${id}\` lists them`);
    }
    const base = path.posix.basename(name);
    reply.header('x-gpuq-attempt', String(out.attempt));
    reply.header('content-disposition', `attachment; filename="${base.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(base)}`);
    reply.type('application/octet-stream');
    const endpoint = await ctx.store.getNodeLogEndpoint(out.nodeId);
    if (endpoint) {
      // Closed when the response is done or its client went away: the transfer from the agent stops with it.
      const gone = new AbortController();
      reply.raw.on('close', () => gone.abort());
      const res = await openRemoteArtifact(endpoint, { id: out.attemptId, jobId: id, number: out.attempt, nodeId: out.nodeId }, name, gone.signal);
      const length = res.headers.get('content-length');
      if (length !== null) reply.header('content-length', length);
      return reply.send(res.body ? Readable.fromWeb(res.body as ReadableStream<Uint8Array>) : '');
    }
    const file = await openArtifact(attemptArtifactsDir(ctx.dataDir, id, out.attempt), name);
    if (file === null) throw new GpuqError('NOT_FOUND', `artifact "${name}" of job ${id} attempt ${out.attempt} is no longer in this server's data directory`);
    reply.header('content-length', String(file.bytes));
    return reply.send(file.stream);
  });
}
