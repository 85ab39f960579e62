import type { Clock } from '../core/clock.js';
import type { SloThresholds } from '../core/slo-report.js';
import type { Store } from '../store/store.js';
import type { AuditLog } from './audit-log.js';
import type { AuthMode } from './auth.js';
import type { ControlPlane } from './control-plane.js';
import type { FeedWatch } from './feed-follow.js';
import type { Metrics } from './metrics.js';
import type { SchedulerLoop } from './scheduler-loop.js';
import type { PipelineService } from './pipelines/pipeline-service.js';
import type { ScheduleService } from './pipelines/schedule-service.js';
import type { TriggerService } from './pipelines/trigger-service.js';
import type { PoolService } from './pools/pool-service.js';
import type { IntakeService } from './intake/intake-service.js';

/** What routes may use. */
export interface ServerContext {
  store: Store;
  storeKind: string;
  controlPlane: ControlPlane;
  /** Warm worker pools' use cases (ADR 0016). */
  pools: PoolService;
  /** Pipelines' use cases (ADR 0018). */
  pipelines: PipelineService;
  /** Pipelines' directory triggers (ADR 0018). */
  triggers: TriggerService;
  /** Pipelines' and job templates' cron schedules (ADR 0018). */
  schedules: ScheduleService;
  /** Broker intake and result sinks (ADR 0017); absent in servers built without one (tests). */
  intake?: IntakeService;
  scheduler: SchedulerLoop;
  metrics: Metrics;
  clock: Clock;
  version: string;
  startedAt: number;
  /** This server's name in leader election (GET /v1/status/leader). */
  replicaId: string;
  /** A replica that recorded itself this recently is alive (three steps of the leader election). */
  replicaAliveMs: number;
  /** `required`: every non-public route needs a bearer token; `off`: every caller is `local` (loopback only). */
  auth: AuthMode;
  audit: AuditLog;
  /** Wakes this server's readers of the event feed (GET /v1/events) when it grows. */
  feed: FeedWatch;
  /** The SLO report's objectives (gpuq up --slo-*). @default DEFAULT_SLO_THRESHOLDS */
  slo?: SloThresholds;
  /** This server's data directory: where `gpuq up`'s own agent keeps attempts' logs and artifacts. */
  dataDir: string;
}
