import client from 'prom-client';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import type { Metrics } from '../metrics.js';
import { PipelineController } from './pipeline-controller.js';
import { PipelineService } from './pipeline-service.js';
import { ScheduleController } from './schedule-controller.js';
import { ScheduleService } from './schedule-service.js';
import { TriggerController } from './trigger-controller.js';
import { TriggerService } from './trigger-service.js';

/** How often the pipeline controller passes when no job end wakes it. */
const CONTROLLER_PERIOD_MS = 1000;

export interface Pipelines {
  service: PipelineService;
  triggers: TriggerService;
  schedules: ScheduleService;
  /** The leader's loops: started when this server is elected, stopped when deposed. */
  controller: PipelineController;
  triggerController: TriggerController;
  scheduleController: ScheduleController;
}

/** A server's pipelines (ADR 0018): the use cases every server serves, the leader's controller and their metrics. */
export function createPipelines(deps: { store: Store; controlPlane: ControlPlane; clock: Clock; metrics: Metrics; log: Logger; pipelinesDir: string }): Pipelines {
  const { store, controlPlane, clock, log } = deps;
  const registers = [deps.metrics.registry];
  const runsEnded = new client.Counter({ name: 'gpuq_pipeline_runs_ended_total', help: 'Pipeline runs that ended, by pipeline and outcome (succeeded, failed, cancelled), counted by the leader.', labelNames: ['pipeline', 'outcome'] as const, registers });
  new client.Gauge({
    name: 'gpuq_pipeline_runs_running',
    help: 'Pipeline runs not ended yet, by pipeline (read from the store at each scrape).',
    labelNames: ['pipeline'] as const,
    registers,
    async collect() {
      const running = await store.countRunningPipelineRuns();
      this.reset();
      for (const p of await store.listPipelines()) this.set({ pipeline: p.name }, 0);
      for (const [pipeline, n] of Object.entries(running)) this.set({ pipeline }, n);
    },
  });
  const service = new PipelineService({ store, controlPlane, clock, log: log.child({ component: 'pipelines' }), maintenance: () => controlPlane.maintenanceMode, pipelinesDir: deps.pipelinesDir, runStarted: () => controller.wake() });
  const controller = new PipelineController(store, controlPlane, clock, runsEnded, log.child({ component: 'pipeline-controller' }), CONTROLLER_PERIOD_MS);
  const triggerController = new TriggerController(store, service, (write) => controlPlane.leaderWrite(write), () => controlPlane.maintenanceMode, clock, log.child({ component: 'triggers' }));
  const triggers = new TriggerService(store, clock, () => triggerController.wake(true));
  const scheduleController = new ScheduleController(store, controlPlane, service, (write) => controlPlane.leaderWrite(write), () => controlPlane.maintenanceMode, clock, log.child({ component: 'schedules' }));
  const schedules = new ScheduleService(store, clock, () => scheduleController.wake());
  return { service, triggers, schedules, controller, triggerController, scheduleController };
}
