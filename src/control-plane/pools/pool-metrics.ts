import client from 'prom-client';
import { REPLICA_STATES, type PoolReplica, type ReplicaEndReason } from '../../core/pool-spec.js';
import type { Store } from '../../store/store.js';

/** Replica ends that gpuq forced (the replica did not stop because scaling or an operator's stop asked it to). */
const EVICTION_REASONS: ReadonlySet<ReplicaEndReason> = new Set(['evicted', 'memory-pressure', 'oom', 'task-timeout', 'start-timeout', 'protocol-error']);

/**
 * The pools' Prometheus metrics, on the server's registry. Counters are counted where things happen: task
 * outcomes and latencies by the server that recorded the result (a cluster's servers sum), replica ends and
 * redeliveries by the leader's pool controller. Gauges (replicas by state, backlog, GPUs held) are read from
 * the store at each scrape.
 */
/** Gauges collected within this long of each other share one store read. */
const SCRAPE_READ_MS = 250;

export class PoolMetrics {
  readonly tasks: client.Counter<'pool' | 'outcome'>;
  readonly taskWait: client.Histogram<'pool'>;
  readonly taskRun: client.Histogram<'pool'>;
  readonly redeliveries: client.Counter<'pool' | 'reason'>;
  readonly replicaEnds: client.Counter<'pool' | 'reason'>;
  readonly evictions: client.Counter<'pool' | 'reason'>;
  readonly oomKills: client.Counter<'pool'>;
  readonly replicaStarts: client.Counter<'pool'>;
  readonly coldStarts: client.Counter<'pool'>;
  readonly coldStart: client.Histogram<'pool'>;

  constructor(registry: client.Registry, store: Store, gpuLimit: number | null, now: () => number) {
    const registers = [registry];
    const latency = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600];
    this.tasks = new client.Counter({ name: 'gpuq_pool_tasks_total', help: 'Pool tasks that ended a delivery, by pool and outcome (succeeded, failed: into the pool\'s DLQ, retried: a retryable error sent it back to the queue).', labelNames: ['pool', 'outcome'], registers });
    this.taskWait = new client.Histogram({ name: 'gpuq_pool_task_wait_seconds', help: 'Pool tasks\' time from submission to the start of the delivery that answered them.', labelNames: ['pool'], buckets: latency, registers });
    this.taskRun = new client.Histogram({ name: 'gpuq_pool_task_run_seconds', help: 'Pool tasks\' time from delivery to answer.', labelNames: ['pool'], buckets: latency, registers });
    this.redeliveries = new client.Counter({ name: 'gpuq_pool_redeliveries_total', help: 'Pool task deliveries lost and given again (or, with attempts used up, to the DLQ), by reason: replica-ended, task-timeout.', labelNames: ['pool', 'reason'], registers });
    this.replicaEnds = new client.Counter({ name: 'gpuq_pool_replica_ends_total', help: 'Pool replicas that ended, by reason (stopped, idle, replaced, evicted, memory-pressure, crashed, oom, start-timeout, task-timeout, protocol-error, lost).', labelNames: ['pool', 'reason'], registers });
    this.evictions = new client.Counter({ name: 'gpuq_pool_evictions_total', help: 'Pool replicas gpuq removed by force, by reason (evicted by an operator, memory-pressure on their node, oom, task-timeout, start-timeout, protocol-error).', labelNames: ['pool', 'reason'], registers });
    this.oomKills = new client.Counter({ name: 'gpuq_pool_oom_kills_total', help: 'Pool replicas that ran out of memory (killed by the OOM killer, a CUDA out-of-memory error, or GPU memory at the pool\'s limit).', labelNames: ['pool'], registers });
    this.replicaStarts = new client.Counter({ name: 'gpuq_pool_replica_starts_total', help: 'Pool replicas started by the pool controller.', labelNames: ['pool'], registers });
    this.coldStarts = new client.Counter({ name: 'gpuq_pool_cold_starts_total', help: 'Pool tasks answered that were submitted while their pool had no ready replica.', labelNames: ['pool'], registers });
    this.coldStart = new client.Histogram({ name: 'gpuq_pool_cold_start_seconds', help: 'Cold starts: a task submitted to a pool with no ready replica, from its submission to its result.', labelNames: ['pool'], buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30, 60, 300, 900], registers });

    new client.Gauge({
      name: 'gpuq_pool_replicas',
      help: 'Live pool replicas by pool and state (pending, starting, ready, stopping).',
      labelNames: ['pool', 'state'] as const,
      registers,
      async collect() {
        const [pools, replicas] = await Promise.all([store.listPools(), store.listPoolReplicas({ endedSince: now() })]);
        this.reset();
        for (const p of pools) for (const s of REPLICA_STATES) if (s !== 'ended') this.set({ pool: p.name, state: s }, 0);
        for (const r of replicas) if (r.state !== 'ended') this.inc({ pool: r.pool, state: r.state });
      },
    });
    // The backlog and running gauges read the same counts: one store read serves both within a scrape.
    let backlogRead: { at: number; counts: ReturnType<Store['poolBacklogs']> } | null = null;
    const backlogsOfScrape = (): ReturnType<Store['poolBacklogs']> => {
      const t = now();
      if (backlogRead === null || t - backlogRead.at > SCRAPE_READ_MS) backlogRead = { at: t, counts: store.poolBacklogs(t, t) };
      return backlogRead.counts;
    };
    new client.Gauge({
      name: 'gpuq_pool_backlog',
      help: 'Pool tasks queued (waiting for a replica), by pool.',
      labelNames: ['pool'] as const,
      registers,
      async collect() {
        const backlogs = await backlogsOfScrape();
        this.reset();
        for (const b of backlogs) this.set({ pool: b.pool }, b.queued);
      },
    });
    new client.Gauge({
      name: 'gpuq_pool_tasks_running',
      help: 'Pool tasks delivered to a replica and not answered yet, by pool.',
      labelNames: ['pool'] as const,
      registers,
      async collect() {
        const backlogs = await backlogsOfScrape();
        this.reset();
        for (const b of backlogs) this.set({ pool: b.pool }, b.running);
      },
    });
    new client.Gauge({
      name: 'gpuq_pool_gpus_held',
      help: 'GPUs held by live pool replicas, all pools together (compare gpuq_pool_gpu_limit).',
      registers,
      async collect() {
        const replicas = await store.listPoolReplicas({ endedSince: now() });
        this.set(replicas.reduce((n, r) => n + (r.state === 'ended' ? 0 : r.devices.length), 0));
      },
    });
    if (gpuLimit !== null) new client.Gauge({ name: 'gpuq_pool_gpu_limit', help: 'The cap on GPUs held by all pools (gpuq up --pool-gpu-limit).', registers }).set(gpuLimit);
  }

  /** A replica seen ended by the pool controller. */
  replicaEnded(r: PoolReplica): void {
    const reason = r.endReason ?? 'crashed';
    this.replicaEnds.inc({ pool: r.pool, reason });
    if (EVICTION_REASONS.has(reason)) this.evictions.inc({ pool: r.pool, reason });
    if (reason === 'oom') this.oomKills.inc({ pool: r.pool });
  }
}
