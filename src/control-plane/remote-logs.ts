import { setTimeout as delay } from 'node:timers/promises';
import { GpuqError, NodeUnreachableError } from '../core/errors.js';
import type { Attempt } from '../core/types.js';
import type { NodeLogEndpoint } from '../store/store.js';

/**
 * Logs and artifacts of attempts that ran on a remote agent (`gpuq agent`): the
 * files are on the agent's machine, so the API reads them through the agent's
 * log server (src/agent/log-server.ts), at the endpoint the agent registered
 * with its node. Any server can do it: the endpoint is in the store.
 */

/** A read of a whole log may take this long; a follow has no limit (it ends with the attempt). */
const READ_TIMEOUT_MS = 30_000;

/** The attempt whose files are read: which agent route, and how the agent finds them (job id and attempt number). */
type AttemptRef = Pick<Attempt, 'id' | 'jobId' | 'number' | 'nodeId'>;

function agentUrl(endpoint: NodeLogEndpoint, a: AttemptRef, route: 'log' | 'artifact', query: Record<string, string>): string {
  const url = new URL(`/attempts/${a.id}/${route}`, endpoint.url);
  // The agent finds the file from the job and attempt number, as it named it (local-agent.ts): it keeps no index.
  url.searchParams.set('job', String(a.jobId));
  url.searchParams.set('number', String(a.number));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  return url.href;
}

async function get(endpoint: NodeLogEndpoint, a: AttemptRef, query: Record<string, string>, signal: AbortSignal, route: 'log' | 'artifact' = 'log', what?: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(agentUrl(endpoint, a, route, query), { headers: { authorization: `Bearer ${endpoint.secret}` }, signal });
  } catch (err) {
    throw new NodeUnreachableError(a.nodeId, err instanceof Error ? err.message : String(err), { cause: err, what });
  }
  if (!res.ok) {
    await res.body?.cancel();
    if (route === 'artifact' && res.status === 404) throw new GpuqError('NOT_FOUND', `${what ?? 'the file'} is no longer on node ${a.nodeId} (deleted from the agent's data directory)`);
    throw new NodeUnreachableError(a.nodeId, `its log server at ${endpoint.url} answered HTTP ${res.status}`, { what });
  }
  return res;
}

/**
 * Opens an artifact of an attempt on its agent: the response, whose body streams the file and whose
 * content-length says its size. NOT_FOUND when the agent no longer has it; NODE_UNREACHABLE when the agent
 * cannot be reached. `signal` aborts the transfer (the API's client went away).
 */
export async function openRemoteArtifact(endpoint: NodeLogEndpoint, a: AttemptRef, name: string, signal: AbortSignal): Promise<Response> {
  // No overall timeout: a large file takes as long as it takes; a connection that cannot be made fails at once.
  return get(endpoint, a, { name }, signal, 'artifact', `artifact "${name}" of job ${a.jobId} (attempt ${a.number})`);
}

/** The whole log, or its last `tail` lines, with the byte offset where the read ended (to follow on from). */
export async function readRemoteLog(endpoint: NodeLogEndpoint, a: Attempt, tail: number | undefined): Promise<{ text: string; end: number }> {
  const res = await get(endpoint, a, tail === undefined ? {} : { tail: String(tail) }, AbortSignal.timeout(READ_TIMEOUT_MS));
  const text = await res.text();
  const end = Number(res.headers.get('x-gpuq-log-end'));
  return { text, end: Number.isFinite(end) ? end : Buffer.byteLength(text) };
}

export interface FollowOptions {
  /** Aborted when the API's client goes away: the stream from the agent is closed with it. */
  signal: AbortSignal;
  /** Whether the store holds the attempt as ended (or no longer at all). */
  ended: () => Promise<boolean>;
  /** The node's current endpoint: reread after a failure, since a restarted agent listens elsewhere. */
  endpoint: () => Promise<NodeLogEndpoint | null>;
  /** Wait between reconnections while the attempt is live. */
  retryMs: number;
}

/**
 * Follows an attempt's log on its agent from `offset` until the attempt ends.
 *
 * The agent streams while it runs the attempt and ends the stream when the
 * process has gone. A stream that ends or breaks while the store still holds
 * the attempt live (not started there yet, a restart, a cut connection) is
 * opened again from the last byte received. Whether the attempt has ended is
 * read before each connection, so once it has, that last connection reads
 * everything the job wrote and the follow ends. An agent that stays
 * unreachable ends the follow when the attempt ends (its lease runs out).
 */
export async function* followRemoteLog(a: Attempt, offset: number, o: FollowOptions): AsyncGenerator<Buffer> {
  for (;;) {
    if (o.signal.aborted) return;
    const ended = await o.ended();
    const endpoint = await o.endpoint();
    if (endpoint) {
      try {
        const res = await get(endpoint, a, { offset: String(offset), follow: String(!ended) }, ended ? AbortSignal.any([o.signal, AbortSignal.timeout(READ_TIMEOUT_MS)]) : o.signal);
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          offset += chunk.length;
          yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        }
      } catch {
        // Unreachable or cut off: try again while the attempt is live (below); the offset says where to go on from.
      }
    }
    if (ended) return;
    await delay(o.retryMs, undefined, { signal: o.signal }).catch(() => {});
  }
}
