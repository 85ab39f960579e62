import type { ApiToken, AuditAction, AuditEntry, Role } from '../core/access.js';
import type { JobDependency } from '../core/dependencies.js';
import type { ArtifactEntry } from '../core/job-output.js';
import type { JobSpecInput } from '../core/job-spec.js';
import type { JobSort } from '../core/job-sort.js';
import type { SloReport } from '../core/slo-report.js';
import type { GpuUsage } from '../core/gpu-usage.js';
import type { WhoAmI } from '../core/whoami.js';
import type { FeedEvent, FeedEventType } from '../core/feed-events.js';
import { parseSse } from './sse.js';
import { PipelinesApi } from './pipelines-client.js';
import type { Attempt, AttemptState, Job, JobEvent, JobState, MaintenanceMode, NodeInfo, DeviceTelemetry, Device } from '../core/types.js';

export type { WhoAmI, FeedEvent, FeedEventType, JobSort, SloReport };
export type { Pipeline, PipelineRun, PipelineRunDetail, PipelineSpecInput, RunInputSpec } from './pipelines-client.js';
export type { ListTasksOptions, Pool, PoolPatch, PoolSpecInput, PoolTask, PoolView, SubmitTaskOptions, TaskAck, TaskInput, WaitOptions } from './pools-client.js';

/** Which events to read (GET /v1/events): every condition given must hold. */
export interface EventsOptions {
  /** Exact types, or the part before the dot (`job`, `node`). */
  types?: string[];
  job?: number;
  queue?: string;
  /** Events after this id; absent: from now on (follow) or the newest page (listEvents). */
  after?: number;
}

/** Retention removed events the reader had not seen: read the current state again; events go on from `oldestId`. */
export interface FeedResync {
  type: 'resync';
  reason: string;
  oldestId: number;
}

/** How long `events()` waits before reconnecting after the stream broke. */
const RECONNECT_MS = 1000;

/** An error answer of the API: the server's code and message, and the HTTP status. */
export class GpuqApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'GpuqApiError';
  }
}

/** The server could not be reached at all. */
export class GpuqUnreachableError extends Error {
  constructor(readonly url: string, options?: { cause?: unknown }) {
    super(`cannot reach gpuq at ${url}: is it running? (start it with \`gpuq up\`, or set --url / GPUQ_URL)`, options);
    this.name = 'GpuqUnreachableError';
  }
}

export interface JobDetail {
  job: Job;
  /** Each with what its GPUs did (live figures while it runs), and idleSince while flagged idle. */
  attempts: (Attempt & { gpuUsage: GpuUsage[] })[];
  events: JobEvent[];
  /** The jobs it depends on (spec.dependsOn), with their states. */
  dependencies: JobDependency[];
  /** While queued: the dependencies it still waits for (they have not succeeded yet). */
  waitingOn: number[];
  /** Why a queued job does not run yet (its dependencies, or the scheduler's reason); null otherwise. */
  waiting: string | null;
}

/** What an attempt left (GET /v1/jobs/:id/artifacts): its artifact list, and a note on what was left out. */
export interface JobArtifacts {
  jobId: number;
  /** The attempt's number. */
  attempt: number;
  /** How that attempt ended. */
  state: AttemptState;
  nodeId: string;
  /** Why a result was not kept, or files were left out of the list; null when nothing was. */
  note: string | null;
  artifacts: ArtifactEntry[];
}

/** GET /v1/jobs/:id/result: the artifact list and the JSON result (null when the attempt left none that could be kept). */
export interface JobResult extends JobArtifacts {
  result: unknown;
}

/** A node's lifecycle as the API reports it, beside its admin state. */
export interface NodeLifecycle {
  /** Attempts assigned or running on the node. */
  liveAttempts: number;
  /** For a draining node, whether it has no live attempt left; null for an active or cordoned node. */
  drained: boolean | null;
}

export interface NodeView extends Omit<NodeInfo, 'devices'>, NodeLifecycle {
  devices: (Device & { telemetry: DeviceTelemetry | null; heldBy: { jobId: number; attemptId: number } | null })[];
}

/** One node as the node routes answer it (GET /v1/nodes/:node, cordon, drain, uncordon). */
export type NodeState = NodeInfo & NodeLifecycle;

export interface ListJobsOptions {
  state?: JobState[];
  queue?: string;
  labels?: Record<string, string>;
  /** A token id, "me", or a token name: only the jobs that token submitted. */
  owner?: string;
  /** Only jobs whose name contains this (ASCII letters in either case). */
  name?: string;
  /** The order (default -id, newest first); a cursor belongs to its sort. */
  sort?: JobSort;
  limit?: number;
  cursor?: string;
}

/** Job counts (GET /v1/jobs/counts). */
export interface JobCounts {
  queue: string | null;
  total: number;
  byState: Record<JobState, number>;
  dlq: number;
  queues: { queue: string; total: number; byState: Record<JobState, number>; dlq: number }[];
}

export interface ClientOptions {
  /**
   * API token, sent as `Authorization: Bearer <token>` (needed when the server runs with auth required).
   * @default undefined (no Authorization header)
   */
  token?: string;
}

/**
 * A typed client for the gpuq HTTP API (what the CLI uses). The pool calls (`createPool`, `submitTask`, …) come from
 * `PoolsApi`, the pipeline calls (`createPipeline`, `runPipeline`, …) from `PipelinesApi`.
 */
export class GpuqClient extends PipelinesApi {
  private readonly token: string | undefined;

  constructor(
    readonly baseUrl: string,
    options: ClientOptions = {},
  ) {
    super();
    this.token = options.token;
  }

  async submit(spec: JobSpecInput): Promise<{ job: Job; created: boolean }> {
    return this.request('POST', '/v1/jobs', spec);
  }

  async submitBatch(specs: JobSpecInput[]): Promise<{ jobs: { id: number; state: JobState; created: boolean }[] }> {
    return this.request('POST', '/v1/jobs', { jobs: specs });
  }

  async get(id: number): Promise<JobDetail> {
    return this.request('GET', `/v1/jobs/${id}`);
  }

  async list(o: ListJobsOptions = {}): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    if (o.state?.length) q.set('state', o.state.join(','));
    if (o.queue) q.set('queue', o.queue);
    if (o.owner) q.set('owner', o.owner);
    if (o.name) q.set('name', o.name);
    if (o.sort) q.set('sort', o.sort);
    for (const [k, v] of Object.entries(o.labels ?? {})) q.append('label', `${k}=${v}`);
    if (o.limit) q.set('limit', String(o.limit));
    if (o.cursor) q.set('cursor', o.cursor);
    return this.request('GET', `/v1/jobs?${q}`);
  }

  /** `dependentsFailed`: jobs that waited for it (directly or not) and failed with it. */
  async cancel(id: number, reason?: string): Promise<{ job: Job; cancelled: boolean; dependentsFailed: number[] }> {
    return this.request('POST', `/v1/jobs/${id}/cancel`, reason ? { reason } : {});
  }

  async cancelQueue(queue: string, reason?: string): Promise<{ cancelled: number; ids: number[]; dependentsFailed: number[] }> {
    return this.request('POST', `/v1/queues/${encodeURIComponent(queue)}/cancel`, reason ? { reason } : {});
  }

  async logs(id: number, o: { attempt?: number; tail?: number } = {}): Promise<string> {
    const res = await this.raw('GET', `/v1/jobs/${id}/logs?${logQuery({ ...o, follow: false })}`);
    return res.text();
  }

  /** Streams the log until the attempt ends. */
  async *followLogs(id: number, o: { attempt?: number; tail?: number } = {}): AsyncGenerator<string> {
    const res = await this.raw('GET', `/v1/jobs/${id}/logs?${logQuery({ ...o, follow: true })}`);
    if (!res.body) return;
    const decoder = new TextDecoder();
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
  }

  /** One page of the event feed, oldest first; `lastEventId` is where to resume (`after`). */
  async listEvents(o: EventsOptions & { limit?: number } = {}): Promise<{ events: FeedEvent[]; lastEventId: number; resync?: Omit<FeedResync, 'type'> }> {
    const q = eventsQuery(o);
    q.set('follow', 'false');
    if (o.limit) q.set('limit', String(o.limit));
    return this.request('GET', `/v1/events?${q}`);
  }

  /**
   * Follows the event feed until `signal` aborts: every matching event once, in order, across reconnects (it
   * resumes after the last id the server sent, from any replica). A `resync` says retention removed events it missed.
   * A refused request (bad filter, 401/403) throws; a broken connection is retried every second.
   */
  async *events(o: EventsOptions & { signal?: AbortSignal } = {}): AsyncGenerator<FeedEvent | FeedResync> {
    let after = o.after;
    while (!o.signal?.aborted) {
      const q = eventsQuery({ ...o, after });
      let res: Response;
      try {
        res = await this.raw('GET', `/v1/events?${q}`, undefined, { signal: o.signal, headers: { accept: 'text/event-stream' } });
      } catch (err) {
        if (err instanceof GpuqApiError || o.signal?.aborted) throw err;
        await pause(RECONNECT_MS, o.signal);
        continue;
      }
      try {
        for await (const m of parseSse(decoded(res.body))) {
          if (o.signal?.aborted) return;
          if (m.id !== undefined) after = Number(m.id);
          if (m.data === null) continue;
          if (m.event === 'resync') yield { type: 'resync', ...(JSON.parse(m.data) as Omit<FeedResync, 'type'>) };
          else yield JSON.parse(m.data) as FeedEvent;
        }
      } catch (err) {
        if (o.signal?.aborted) return;
        void err; // The connection broke: resume after the last event seen.
      }
      if (!o.signal?.aborted) await pause(RECONNECT_MS, o.signal);
    }
  }

  /** The JSON result of the job's latest attempt that reported one (or of `attempt`), with its artifact list. */
  async result(id: number, o: { attempt?: number } = {}): Promise<JobResult> {
    return this.request('GET', `/v1/jobs/${id}/result${attemptQuery(o.attempt)}`);
  }

  /** The artifact list of the job's latest attempt that reported one (or of `attempt`). */
  async artifacts(id: number, o: { attempt?: number } = {}): Promise<JobArtifacts> {
    return this.request('GET', `/v1/jobs/${id}/artifacts${attemptQuery(o.attempt)}`);
  }

  /** One artifact file: the response, whose body streams it (`x-gpuq-attempt` names the attempt). */
  async artifact(id: number, name: string, o: { attempt?: number } = {}): Promise<Response> {
    return this.raw('GET', `/v1/jobs/${id}/artifacts/${encodeURIComponent(name)}${attemptQuery(o.attempt)}`);
  }

  async dlq(o: { queue?: string; limit?: number; cursor?: string } = {}): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    if (o.queue) q.set('queue', o.queue);
    if (o.limit) q.set('limit', String(o.limit));
    if (o.cursor) q.set('cursor', o.cursor);
    return this.request('GET', `/v1/dlq?${q}`);
  }

  /** `failedAgain`: replayed jobs that failed again at once, because a job they depend on is still failed (or gone). */
  async replay(selector: { ids: number[] } | { all: true; queue?: string }): Promise<{ replayed: number; ids: number[]; failedAgain: number[] }> {
    return this.request('POST', '/v1/dlq/replay', selector);
  }

  async purgeDlq(selector: { ids: number[] } | { all: true; queue?: string }): Promise<{ purged: number }> {
    return this.request('POST', '/v1/dlq/purge', selector);
  }

  async nodes(): Promise<{ nodes: NodeView[] }> {
    return this.request('GET', '/v1/nodes');
  }

  async node(nodeId: string): Promise<{ node: NodeState }> {
    return this.request('GET', `/v1/nodes/${encodeURIComponent(nodeId)}`);
  }

  /** No new attempts go to the node; running ones go on. */
  async cordonNode(nodeId: string): Promise<{ node: NodeState }> {
    return this.request('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/cordon`);
  }

  /** Cordons the node; `node.drained` turns true once its live attempts have ended (poll `node()`). */
  async drainNode(nodeId: string): Promise<{ node: NodeState }> {
    return this.request('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/drain`);
  }

  /** The node takes new attempts again. */
  async uncordonNode(nodeId: string): Promise<{ node: NodeState }> {
    return this.request('POST', `/v1/nodes/${encodeURIComponent(nodeId)}/uncordon`);
  }

  async setMaintenance(mode: MaintenanceMode): Promise<{ mode: MaintenanceMode; running: number }> {
    return this.request('POST', '/v1/control/maintenance', { mode });
  }

  /** Who the token is to the server (name, role) and the actions it may take. */
  async whoami(): Promise<WhoAmI> {
    return this.request('GET', '/v1/whoami');
  }

  async health(): Promise<Record<string, unknown>> {
    return this.request('GET', '/health/detailed');
  }

  /** Creates a token; `token` in the answer is its plaintext, which the server shows only this once. */
  async createToken(name: string, role: Role): Promise<{ token: string; id: string; name: string; role: Role; createdAt: number }> {
    return this.request('POST', '/v1/tokens', { name, role });
  }

  async listTokens(o: { all?: boolean } = {}): Promise<{ tokens: ApiToken[] }> {
    return this.request('GET', `/v1/tokens${o.all ? '?all=true' : ''}`);
  }

  async revokeToken(id: string): Promise<{ token: ApiToken }> {
    return this.request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
  }

  /**
   * The SLO report over [since, until): each a duration back from now ("24h", "7d", "30m") or an ISO 8601 time;
   * since defaults to 24h, until to now. Of one queue with `queue`.
   */
  async report(o: { since?: string; until?: string; queue?: string } = {}): Promise<SloReport> {
    const q = new URLSearchParams();
    if (o.since) q.set('since', o.since);
    if (o.until) q.set('until', o.until);
    if (o.queue) q.set('queue', o.queue);
    return this.request('GET', `/v1/report?${q}`);
  }

  /** Job counts by state, in total and by queue (of one queue with `queue`). */
  async jobCounts(o: { queue?: string } = {}): Promise<JobCounts> {
    return this.request('GET', `/v1/jobs/counts${o.queue ? `?queue=${encodeURIComponent(o.queue)}` : ''}`);
  }

  async audit(o: { action?: AuditAction; limit?: number; cursor?: string } = {}): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    if (o.action) q.set('action', o.action);
    if (o.limit) q.set('limit', String(o.limit));
    if (o.cursor) q.set('cursor', o.cursor);
    return this.request('GET', `/v1/audit?${q}`);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    return (await res.json()) as T;
  }

  private async raw(method: string, path: string, body?: unknown, init: { signal?: AbortSignal; headers?: Record<string, string> } = {}): Promise<Response> {
    let res: Response;
    try {
      const headers: Record<string, string> = { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...init.headers };
      if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
      res = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: init.signal,
      });
    } catch (e) {
      throw new GpuqUnreachableError(this.baseUrl, { cause: e });
    }
    if (!res.ok) {
      const text = await res.text();
      let parsed: { error?: { code?: string; message?: string; issues?: { path: string; message: string }[] } } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        /* not JSON */
      }
      throw new GpuqApiError(res.status, parsed.error?.code ?? `HTTP_${res.status}`, parsed.error?.message ?? text, parsed.error?.issues ?? []);
    }
    return res;
  }
}

function eventsQuery(o: EventsOptions): URLSearchParams {
  const q = new URLSearchParams();
  if (o.types?.length) q.set('types', o.types.join(','));
  if (o.job !== undefined) q.set('job', String(o.job));
  if (o.queue) q.set('queue', o.queue);
  if (o.after !== undefined) q.set('after', String(o.after));
  return q;
}

async function* decoded(body: ReadableStream<Uint8Array> | null): AsyncGenerator<string> {
  if (!body) return;
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) yield decoder.decode(chunk, { stream: true });
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function attemptQuery(attempt: number | undefined): string {
  return attempt === undefined ? '' : `?attempt=${attempt}`;
}

function logQuery(o: { attempt?: number; tail?: number; follow: boolean }): URLSearchParams {
  const q = new URLSearchParams({ follow: String(o.follow) });
  if (o.attempt) q.set('attempt', String(o.attempt));
  if (o.tail !== undefined) q.set('tail', String(o.tail));
  return q;
}
