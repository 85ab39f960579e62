import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import type { DeviceTelemetry, HostMemoryReport, NodeRegistration } from '../core/types.js';
import type { EndReport, ReportResult, StartReport } from '../store/store.js';
import type { IdlePolicy } from '../core/gpu-usage.js';
import { MAX_REPORT_BYTES_PER_REQUEST, MAX_REPORTS_PER_REQUEST, type AttemptUsageReport, type ControlPlaneLink, type WorkBatch } from './agent-link.js';

/** The control plane could not be reached: no connection, a timeout, or a server answering 502/503/504. Worth retrying. */
export class ControlPlaneUnreachableError extends Error {
  constructor(
    readonly url: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot reach the gpuq control plane at ${url}: ${detail}`, options);
    this.name = 'ControlPlaneUnreachableError';
  }
}

/** The control plane answered with a refusal (4xx): a bad token (401/403), a bad request, an expired session. */
export class ControlPlaneRefusedError extends Error {
  constructor(
    readonly status: number,
    /** The API's error code (docs/errors.md), e.g. AGENT_SESSION_EXPIRED. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ControlPlaneRefusedError';
  }
}

export interface HttpLinkOptions {
  /** Base URLs of the control plane's servers (replicas); the link uses one and moves to the next when it cannot be reached. */
  servers: string[];
  /** API token with the `agent` role; none for a server with auth off. */
  token: string | undefined;
  /** Sent with every registration: where this agent serves its attempts' logs. */
  logEndpoint?: { url: string; secret: string };
  clock: Clock;
  /** One request's time limit (a long-poll gets its wait on top). @default 10000 */
  requestTimeoutMs?: number;
  /** Retries of a report that could not get through, with backoff, before the error goes to the caller (which keeps the report). @default 2 */
  retries?: number;
}

const TRANSIENT_STATUS = new Set([502, 503, 504]);

/**
 * ControlPlaneLink over HTTP (control-plane/routes/agents.ts), for `gpuq agent`.
 *
 * Registration opens a session on the server that answers it; the agent's
 * long-poll for work (`fetchWork`) goes to that session. When a server cannot
 * be reached the link moves on to the next one listed, where the next poll
 * finds no session (AGENT_SESSION_EXPIRED) and the agent registers again.
 *
 * It also keeps the facts the agent's grace period needs: since when no
 * request has got through (`unreachableSince`).
 */
export class HttpControlPlaneLink implements ControlPlaneLink {
  private current = 0;
  private session: { id: string; server: number } | null = null;
  /** The node this link speaks for, from its registration. */
  private nodeId: string | null = null;
  private readonly timeoutMs: number;
  private readonly retries: number;
  /** Since when every request has failed to reach the control plane; null while requests get through. */
  unreachableSince: number | null = null;

  constructor(private readonly o: HttpLinkOptions) {
    if (o.servers.length === 0) throw new Error('HttpControlPlaneLink needs at least one server URL');
    this.timeoutMs = o.requestTimeoutMs ?? 10_000;
    this.retries = o.retries ?? 2;
  }

  /** The server requests go to now. */
  get server(): string {
    return this.o.servers[this.current]!;
  }

  async register(node: NodeRegistration): Promise<{ liveAttemptIds: number[]; leaseMs?: number; idlePolicy?: IdlePolicy }> {
    // The server sets these two; the agent's clock is not the control plane's.
    const { lastHeartbeatAt: _at, state: _state, ...described } = node;
    const server = this.current;
    const res = await this.send<{ sessionId: string; liveAttemptIds: number[]; leaseMs?: number; idlePolicy?: IdlePolicy }>('POST', '/v1/agents/register', {
      node: described,
      ...(this.o.logEndpoint ? { logUrl: this.o.logEndpoint.url, logSecret: this.o.logEndpoint.secret } : {}),
    });
    this.session = { id: res.sessionId, server };
    this.nodeId = node.id;
    return { liveAttemptIds: res.liveAttemptIds, leaseMs: res.leaseMs, idlePolicy: res.idlePolicy };
  }

  heartbeat(nodeId: string, runningAttemptIds: number[], telemetry: DeviceTelemetry[], usage: AttemptUsageReport[] = [], hostMemory?: HostMemoryReport): Promise<{ liveAttemptIds: number[] }> {
    // Not retried here: the next heartbeat is the retry.
    return this.send('POST', `/v1/agents/${encodeURIComponent(nodeId)}/heartbeat`, { runningAttemptIds, telemetry, ...(usage.length > 0 ? { usage } : {}), ...(hostMemory ? { hostMemory } : {}) });
  }

  reportStarted(reports: StartReport[]): Promise<ReportResult[]> {
    return this.report('started', reports);
  }

  reportEnded(reports: EndReport[]): Promise<ReportResult[]> {
    return this.report('ended', reports);
  }

  async leave(nodeId: string, incarnation: string): Promise<boolean> {
    return (await this.send<{ left: boolean }>('POST', `/v1/agents/${encodeURIComponent(nodeId)}/leave`, { incarnation })).left;
  }

  /**
   * Long-polls this agent's session for work, acknowledging everything up to
   * `ack`. Throws ControlPlaneRefusedError with AGENT_SESSION_EXPIRED when the
   * session is gone (or the link has moved to another server): register again.
   */
  async fetchWork(nodeId: string, ack: number | undefined, waitMs: number, signal: AbortSignal): Promise<WorkBatch> {
    if (this.session === null || this.session.server !== this.current) {
      throw new ControlPlaneRefusedError(410, 'AGENT_SESSION_EXPIRED', `no session on ${this.server}: register first`);
    }
    const q = new URLSearchParams({ session: this.session.id, waitMs: String(waitMs) });
    if (ack !== undefined) q.set('ack', String(ack));
    return this.send('GET', `/v1/agents/${encodeURIComponent(nodeId)}/work?${q}`, undefined, { timeoutMs: waitMs + this.timeoutMs, signal });
  }

  /** Sends reports in requests of at most MAX_REPORTS_PER_REQUEST reports and about MAX_REPORT_BYTES_PER_REQUEST bytes, each retried on transient failures. */
  private async report<R extends { attemptId: number; output?: EndReport['output'] }>(kind: 'started' | 'ended', reports: R[]): Promise<ReportResult[]> {
    if (this.nodeId === null) throw new Error('report before registration');
    const out: ReportResult[] = [];
    for (const chunk of requestChunks(reports)) {
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await this.send<{ results: ReportResult[] }>('POST', `/v1/agents/${encodeURIComponent(this.nodeId)}/${kind}`, { reports: chunk });
          out.push(...res.results);
          break;
        } catch (err) {
          // Resending is safe: a report the store already applied is refused the second time, changing nothing.
          if (!(err instanceof ControlPlaneUnreachableError) || attempt >= this.retries) throw err;
          await delay(200 * 2 ** attempt);
        }
      }
    }
    return out;
  }

  private async send<T>(method: string, path: string, body?: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<T> {
    const server = this.current;
    const url = this.server + path;
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (this.o.token !== undefined) headers.authorization = `Bearer ${this.o.token}`;
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: o.signal ? AbortSignal.any([o.signal, timeout]) : timeout });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      throw this.unreachable(server, err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err), err);
    }
    if (TRANSIENT_STATUS.has(res.status)) {
      const text = await res.text().catch(() => '');
      throw this.unreachable(server, `HTTP ${res.status} ${errorOf(text)?.message ?? ''}`.trim());
    }
    this.unreachableSince = null;
    const text = await res.text();
    if (!res.ok) {
      const e = errorOf(text);
      throw new ControlPlaneRefusedError(res.status, e?.code ?? `HTTP_${res.status}`, `${this.server} refused ${method} ${path.split('?')[0]}: ${e?.message ?? text}`);
    }
    return JSON.parse(text) as T;
  }

  /**
   * Notes the failure (for the grace period) and moves on from the server that failed to the next one
   * listed; requests in flight to the same server fail together and move on once.
   */
  private unreachable(server: number, detail: string, cause?: unknown): ControlPlaneUnreachableError {
    const err = new ControlPlaneUnreachableError(this.o.servers[server]!, detail, { cause });
    this.unreachableSince ??= this.o.clock.now();
    if (this.current === server) this.current = (server + 1) % this.o.servers.length;
    return err;
  }
}

/** A report's size on the wire, roughly: what its result and artifact names add to a few hundred bytes. */
function reportBytes(r: { output?: EndReport['output'] }): number {
  const o = r.output;
  if (o === undefined) return 400;
  // Twice the result: escaped as a JSON string, its quotes and backslashes double.
  let n = 500 + 2 * (o.result?.length ?? 0) + (o.note?.length ?? 0);
  for (const a of o.artifacts) n += a.name.length + 32;
  return n;
}

/** Reports cut into requests by count and by size, in order; a report bigger than the byte budget goes alone. */
export function requestChunks<R extends { output?: EndReport['output'] }>(reports: R[]): R[][] {
  const chunks: R[][] = [];
  let chunk: R[] = [];
  let bytes = 0;
  for (const r of reports) {
    const b = reportBytes(r);
    if (chunk.length > 0 && (chunk.length >= MAX_REPORTS_PER_REQUEST || bytes + b > MAX_REPORT_BYTES_PER_REQUEST)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += b;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function errorOf(text: string): { code?: string; message?: string } | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
  } catch {
    return undefined;
  }
}
