import type { Pool, PoolSpecInput, PoolTask, TaskInput, TaskState } from '../core/pool-spec.js';
import type { PoolView } from '../core/pool-view.js';

export type { Pool, PoolSpecInput, PoolTask, PoolView, TaskInput, TaskState };

/** An update (`PATCH /v1/pools/:name`): any spec field but the name. A field given replaces the pool's whole field (`env`, `memoryPolicy` included). */
export type PoolPatch = Partial<Omit<PoolSpecInput, 'name'>>;

export interface WaitOptions {
  /**
   * Seconds the server may hold the request open until the task(s) end (0–300). The answer then carries the
   * tasks in their state at that moment: ended, or whatever it was when the wait ran out.
   * @default undefined (answer at once)
   */
  wait?: number;
}

export interface SubmitTaskOptions extends WaitOptions {
  /** A second submit with the same key (within the pool) returns the first task, with created=false. */
  idempotencyKey?: string;
}

/** A batch submitted without waiting: each task's id and state, in the order given. */
export interface TaskAck {
  id: number;
  state: TaskState;
  created: boolean;
}

export interface ListTasksOptions {
  state?: TaskState[];
  /** Only tasks in the pool's dead-letter queue (failed for good). */
  dlq?: boolean;
  limit?: number;
  cursor?: string;
}

/**
 * The warm worker pool calls of the API (ADR 0016). `GpuqClient` extends this, so they read as
 * `client.createPool(…)`; what a subclass supplies is the one transport call, which throws `GpuqApiError`
 * with the server's code (POOL_NOT_FOUND, POOL_EXISTS, POOL_STOPPED, TASK_NOT_FOUND, VALIDATION_FAILED, …)
 * for an error answer and `GpuqUnreachableError` when the server cannot be reached.
 */
export abstract class PoolsApi {
  abstract request<T>(method: string, path: string, body?: unknown): Promise<T>;

  /** Creates a pool; the control plane starts its minReplicas replicas. */
  async createPool(spec: PoolSpecInput): Promise<{ pool: Pool }> {
    return this.request('POST', '/v1/pools', spec);
  }

  async listPools(): Promise<{ pools: PoolView[] }> {
    return this.request('GET', '/v1/pools');
  }

  async getPool(name: string): Promise<{ pool: PoolView }> {
    return this.request('GET', poolPath(name));
  }

  /** Changes the spec and bumps the generation: running replicas are replaced one by one with the new spec. */
  async updatePool(name: string, patch: PoolPatch): Promise<{ pool: Pool }> {
    return this.request('PATCH', poolPath(name), patch);
  }

  /** No replica starts; running ones finish their in-flight tasks and exit. New tasks are refused (POOL_STOPPED); queued ones wait. */
  async stopPool(name: string): Promise<{ pool: Pool }> {
    return this.request('POST', `${poolPath(name)}/stop`);
  }

  async startPool(name: string): Promise<{ pool: Pool }> {
    return this.request('POST', `${poolPath(name)}/start`);
  }

  /** Evicts the pool now: it is stopped and its replicas killed (SIGTERM, grace, SIGKILL); their in-flight tasks are redelivered once it is started again. */
  async evictPool(name: string, reason?: string): Promise<{ evicted: number[] }> {
    return this.request('POST', `${poolPath(name)}/evict`, reason === undefined ? {} : { reason });
  }

  /** Stops every pool; `stopped` names those that were active. */
  async stopAllPools(): Promise<{ stopped: string[] }> {
    return this.request('POST', '/v1/pools/stop-all');
  }

  /** Deletes the pool and its tasks; its live replicas are evicted. */
  async deletePool(name: string): Promise<{ deleted: true; evicted: number[] }> {
    return this.request('DELETE', poolPath(name));
  }

  /** Submits tasks in one transaction (at most 5000). With `wait`, answers the tasks in their state when they ended or the wait ran out. */
  async submitTasks(name: string, tasks: TaskInput[], o: { wait: number }): Promise<{ tasks: PoolTask[] }>;
  async submitTasks(name: string, tasks: TaskInput[], o?: WaitOptions): Promise<{ tasks: TaskAck[] | PoolTask[] }>;
  async submitTasks(name: string, tasks: TaskInput[], o: WaitOptions = {}): Promise<{ tasks: TaskAck[] | PoolTask[] }> {
    return this.request('POST', `${poolPath(name)}/tasks${waitQuery(o.wait)}`, { tasks });
  }

  /** Submits one task. `created` is false when its idempotency key named an existing task (which is returned). */
  async submitTask(name: string, payload: unknown, o: SubmitTaskOptions = {}): Promise<{ task: PoolTask; created?: boolean }> {
    const body = { payload, ...(o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey }) };
    return this.request('POST', `${poolPath(name)}/tasks${waitQuery(o.wait)}`, body);
  }

  /** One task; with `wait`, the server answers once it ended or the wait ran out. */
  async getTask(name: string, id: number, o: WaitOptions = {}): Promise<{ task: PoolTask }> {
    return this.request('GET', `${poolPath(name)}/tasks/${id}${waitQuery(o.wait)}`);
  }

  async listTasks(name: string, o: ListTasksOptions = {}): Promise<{ tasks: PoolTask[]; nextCursor: string | null }> {
    const q = new URLSearchParams();
    if (o.state?.length) q.set('state', o.state.join(','));
    if (o.dlq !== undefined) q.set('dlq', String(o.dlq));
    if (o.limit) q.set('limit', String(o.limit));
    if (o.cursor) q.set('cursor', o.cursor);
    const query = q.toString();
    return this.request('GET', `${poolPath(name)}/tasks${query ? `?${query}` : ''}`);
  }

  /** Tasks of the pool's DLQ back to queued with a fresh attempt budget: these ids, or all of them. */
  async replayTasks(name: string, ids: number[] | 'all'): Promise<{ replayed: PoolTask[] }> {
    return this.request('POST', `${poolPath(name)}/dlq/replay`, ids === 'all' ? { all: true } : { ids });
  }
}

function poolPath(name: string): string {
  return `/v1/pools/${encodeURIComponent(name)}`;
}

function waitQuery(wait: number | undefined): string {
  return wait === undefined ? '' : `?wait=${wait}`;
}
