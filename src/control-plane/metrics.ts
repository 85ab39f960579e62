import client from 'prom-client';
import { JOB_STATES, TERMINAL_JOB_STATES, type HostMemory, type NodeAdminState } from '../core/types.js';
import type { Store } from '../store/store.js';

const NODE_ADMIN_STATES: readonly NodeAdminState[] = ['active', 'cordoned', 'draining'];

/**
 * Prometheus metrics. Counters and histograms are updated where things happen;
 * gauges of store state (jobs by queue and state, DLQ size, nodes, maintenance
 * mode, device telemetry) are read from the store when Prometheus scrapes, so
 * they are never stale, and every replica of a cluster reports the same values
 * (alert rules take `max` over replicas; see monitoring/alerts/gpuq.rules.yml).
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly jobsFinished = new client.Counter({ name: 'gpuq_jobs_finished_total', help: 'Jobs that reached a final state, by queue and outcome.', labelNames: ['queue', 'outcome'] as const, registers: [this.registry] });
  readonly retries = new client.Counter({ name: 'gpuq_job_retries_total', help: 'Attempts that ended and sent their job back to the queue for another attempt.', labelNames: ['queue'] as const, registers: [this.registry] });
  readonly attemptsEnded = new client.Counter({ name: 'gpuq_attempts_ended_total', help: 'Attempts that ended, by final attempt state.', labelNames: ['state'] as const, registers: [this.registry] });
  readonly leaseReclaims = new client.Counter({ name: 'gpuq_lease_reclaims_total', help: 'Attempts reclaimed because their lease expired or their agent restarted.', registers: [this.registry] });
  readonly submitted = new client.Counter({ name: 'gpuq_jobs_submitted_total', help: 'Jobs accepted by the API.', labelNames: ['queue'] as const, registers: [this.registry] });
  readonly rejected = new client.Counter({ name: 'gpuq_requests_rejected_total', help: 'API requests answered with an error, by error code.', labelNames: ['code'] as const, registers: [this.registry] });
  readonly queueWait = new client.Histogram({
    name: 'gpuq_job_queue_wait_seconds',
    help: 'Time from submission to the start of a job\'s first attempt.',
    labelNames: ['queue'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 14400],
    registers: [this.registry],
  });
  readonly runTime = new client.Histogram({
    name: 'gpuq_attempt_run_seconds',
    help: 'Run time of attempts, from process start to end.',
    labelNames: ['queue'] as const,
    buckets: [0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 14400, 86400],
    registers: [this.registry],
  });
  readonly eventStreams = new client.Gauge({ name: 'gpuq_event_streams', help: 'Event feed streams (GET /v1/events) open on this server.', registers: [this.registry] });
  readonly isLeader = new client.Gauge({ name: 'gpuq_leader', help: '1 while this server is the leader (runs the scheduler, reclaimer and retention), else 0.', registers: [this.registry] });
  readonly leaderTerm = new client.Gauge({ name: 'gpuq_leader_term', help: 'The leadership term this server last saw.', registers: [this.registry] });
  readonly leaderChanges = new client.Counter({ name: 'gpuq_leader_changes_total', help: 'Changes of leader this server saw (its own elections and depositions included).', registers: [this.registry] });
  readonly gpuSeconds = new client.Counter({ name: 'gpuq_gpu_seconds_total', help: 'GPU-seconds of ended attempts (each GPU counts for the attempt\'s run time), by queue; counted by the server that recorded the end.', labelNames: ['queue'] as const, registers: [this.registry] });
  readonly idleCancels = new client.Counter({ name: 'gpuq_idle_cancels_total', help: 'Jobs cancelled because their attempt\'s GPUs stayed idle (gpuq up --idle-cancel), by queue.', labelNames: ['queue'] as const, registers: [this.registry] });
  readonly schedulerLoop = new client.Histogram({
    name: 'gpuq_scheduler_loop_seconds',
    help: 'Duration of one scheduler pass (snapshot, placement, commit).',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });

  constructor(store: Store) {
    const registry = this.registry;
    const { jobsFinished, retries } = this;
    new client.Gauge({
      name: 'gpuq_jobs',
      help: 'Jobs by queue and state.',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        const stats = await store.jobStats();
        this.reset();
        const queues = new Set(stats.byQueueState.map((r) => r.queue));
        for (const q of queues) for (const s of JOB_STATES) this.set({ queue: q, state: s }, 0);
        // Counters of a queue start at 0 as soon as it has jobs: rate() and increase() miss a series' first value.
        for (const q of queues) {
          for (const outcome of TERMINAL_JOB_STATES) jobsFinished.inc({ queue: q, outcome }, 0);
          retries.inc({ queue: q }, 0);
        }
        for (const r of stats.byQueueState) this.set({ queue: r.queue, state: r.state }, r.count);
      },
    });
    new client.Gauge({
      name: 'gpuq_dlq_jobs',
      help: 'Jobs in the dead-letter queue, by queue.',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        const stats = await store.jobStats();
        this.reset();
        // 0 for every queue that has jobs, so the first job into a queue's DLQ is a change, not a new series.
        for (const r of stats.byQueueState) this.set({ queue: r.queue }, 0);
        for (const r of stats.dlqByQueue) this.set({ queue: r.queue }, r.count);
      },
    });
    new client.Gauge({
      name: 'gpuq_nodes',
      help: 'Nodes by state (up: heartbeating; down) and operator admin state (active, cordoned, draining); 0 where none.',
      labelNames: ['state', 'admin_state'] as const,
      registers: [registry],
      async collect() {
        const nodes = await store.listNodes();
        this.reset();
        for (const state of ['up', 'down'] as const) {
          for (const adminState of NODE_ADMIN_STATES) this.set({ state, admin_state: adminState }, nodes.filter((n) => n.state === state && n.adminState === adminState).length);
        }
      },
    });
    new client.Gauge({
      name: 'gpuq_node_up',
      help: '1 while the node heartbeats, 0 once it is marked down; admin_state is the operator\'s (active, cordoned, draining).',
      labelNames: ['node', 'admin_state'] as const,
      registers: [registry],
      async collect() {
        const nodes = await store.listNodes();
        this.reset();
        for (const n of nodes) this.set({ node: n.id, admin_state: n.adminState }, n.state === 'up' ? 1 : 0);
      },
    });
    for (const [name, help, pick] of [
      ['gpuq_node_memory_available_bytes', 'Host memory available on the node (MemAvailable), as its agent last reported it; under gpuq up --memory-pressure-pct of the total, pool replicas there are evicted.', (m: HostMemory) => m.availableMb],
      ['gpuq_node_memory_total_bytes', 'Host memory of the node (MemTotal), as its agent last reported it.', (m: HostMemory) => m.totalMb],
    ] as const) {
      new client.Gauge({
        name,
        help,
        labelNames: ['node'] as const,
        registers: [registry],
        async collect() {
          const nodes = await store.listNodes();
          this.reset();
          for (const n of nodes) if (n.hostMemory !== null) this.set({ node: n.id }, pick(n.hostMemory) * 1048576);
        },
      });
    }
    new client.Gauge({
      name: 'gpuq_maintenance_drain',
      help: '1 while the cluster is in maintenance (drain) mode: new jobs refused, nothing new started; else 0.',
      registers: [registry],
      async collect() {
        this.set((await store.getMaintenanceMode()) === 'drain' ? 1 : 0);
      },
    });
    // job_id and queue: the attempt holding the device now ("" when free). Reset at every scrape, so a device has one
    // series at a time and the cardinality stays bounded by the number of devices, however many jobs pass through.
    const holderHelp = ' Labelled with the job_id and queue of the attempt holding the device, both empty when it is free: one series per device at a time, replaced at each scrape.';
    const deviceGauge = (name: string, help: string, pick: (t: Awaited<ReturnType<Store['latestTelemetry']>>[number]) => number | null) =>
      new client.Gauge({
        name,
        help: help + holderHelp,
        labelNames: ['node', 'device', 'simulated', 'job_id', 'queue'] as const,
        registers: [registry],
        async collect() {
          const [samples, nodes, holders] = await Promise.all([store.latestTelemetry(), store.listNodes(), store.deviceHolders()]);
          const simulated = new Map<string, boolean>(nodes.flatMap((n) => n.devices.map((d) => [`${n.id}/${d.index}`, d.simulated] as const)));
          const heldBy = new Map<string, (typeof holders)[number]>(holders.map((h) => [`${h.nodeId}/${h.index}`, h]));
          this.reset();
          for (const t of samples) {
            const v = pick(t);
            const key: string = `${t.nodeId}/${t.index}`;
            const h = heldBy.get(key);
            if (v !== null) this.set({ node: t.nodeId, device: String(t.index), simulated: String(simulated.get(key) ?? false), job_id: h ? String(h.jobId) : '', queue: h?.queue ?? '' }, v);
          }
        },
      });
    deviceGauge('gpuq_device_utilization_ratio', 'GPU utilization, 0-1, from the latest telemetry sample.', (t) => (t.utilizationPct === null ? null : t.utilizationPct / 100));
    deviceGauge('gpuq_device_memory_used_bytes', 'GPU memory in use.', (t) => (t.memoryUsedMb === null ? null : t.memoryUsedMb * 1048576));
    deviceGauge('gpuq_device_temperature_celsius', 'GPU temperature.', (t) => t.temperatureC);
    deviceGauge('gpuq_device_ecc_uncorrected_errors', 'Uncorrected (volatile) ECC errors.', (t) => t.eccUncorrected);
    deviceGauge('gpuq_device_ecc_corrected_errors', 'Corrected (volatile) ECC errors.', (t) => t.eccCorrected);
    deviceGauge('gpuq_device_power_watts', 'GPU power draw.', (t) => t.powerW);
    new client.Gauge({
      name: 'gpuq_attempts_idle',
      help: 'Running attempts flagged idle (all their GPUs under the idle utilization for the idle time: gpuq up --idle-utilization-pct, --idle-minutes), by queue; 0 for queues with jobs and none idle.',
      labelNames: ['queue'] as const,
      registers: [registry],
      async collect() {
        const [stats, idle] = await Promise.all([store.jobStats(), store.idleAttemptsByQueue()]);
        this.reset();
        for (const r of stats.byQueueState) this.set({ queue: r.queue }, 0);
        for (const r of idle) this.set({ queue: r.queue }, r.count);
      },
    });
    client.collectDefaultMetrics({ register: registry, prefix: 'gpuq_process_' });
  }
}
