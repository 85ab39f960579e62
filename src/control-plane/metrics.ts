import client from 'prom-client';
import { JOB_STATES } from '../core/types.js';
import type { Store } from '../store/store.js';

/**
 * Prometheus metrics. Counters and histograms are updated where things happen;
 * gauges of store state (jobs by queue and state, DLQ size, device telemetry)
 * are read from the store when Prometheus scrapes, so they are never stale.
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
  readonly isLeader = new client.Gauge({ name: 'gpuq_leader', help: '1 while this server is the leader (runs the scheduler, reclaimer and retention), else 0.', registers: [this.registry] });
  readonly leaderTerm = new client.Gauge({ name: 'gpuq_leader_term', help: 'The leadership term this server last saw.', registers: [this.registry] });
  readonly leaderChanges = new client.Counter({ name: 'gpuq_leader_changes_total', help: 'Changes of leader this server saw (its own elections and depositions included).', registers: [this.registry] });
  readonly schedulerLoop = new client.Histogram({
    name: 'gpuq_scheduler_loop_seconds',
    help: 'Duration of one scheduler pass (snapshot, placement, commit).',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });

  constructor(store: Store) {
    const registry = this.registry;
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
        for (const r of stats.dlqByQueue) this.set({ queue: r.queue }, r.count);
      },
    });
    const deviceGauge = (name: string, help: string, pick: (t: Awaited<ReturnType<Store['latestTelemetry']>>[number]) => number | null) =>
      new client.Gauge({
        name,
        help,
        labelNames: ['node', 'device', 'simulated'] as const,
        registers: [registry],
        async collect() {
          const [samples, nodes] = await Promise.all([store.latestTelemetry(), store.listNodes()]);
          const simulated = new Map(nodes.flatMap((n) => n.devices.map((d) => [`${n.id}/${d.index}`, d.simulated] as const)));
          this.reset();
          for (const t of samples) {
            const v = pick(t);
            if (v !== null) this.set({ node: t.nodeId, device: String(t.index), simulated: String(simulated.get(`${t.nodeId}/${t.index}`) ?? false) }, v);
          }
        },
      });
    deviceGauge('gpuq_device_utilization_ratio', 'GPU utilization, 0-1, from the latest telemetry sample.', (t) => (t.utilizationPct === null ? null : t.utilizationPct / 100));
    deviceGauge('gpuq_device_memory_used_bytes', 'GPU memory in use.', (t) => (t.memoryUsedMb === null ? null : t.memoryUsedMb * 1048576));
    deviceGauge('gpuq_device_temperature_celsius', 'GPU temperature.', (t) => t.temperatureC);
    deviceGauge('gpuq_device_ecc_uncorrected_errors', 'Uncorrected (volatile) ECC errors.', (t) => t.eccUncorrected);
    deviceGauge('gpuq_device_power_watts', 'GPU power draw.', (t) => t.powerW);
    client.collectDefaultMetrics({ register: registry, prefix: 'gpuq_process_' });
  }
}
