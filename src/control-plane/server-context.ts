import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import type { ControlPlane } from './control-plane.js';
import type { Metrics } from './metrics.js';
import type { SchedulerLoop } from './scheduler-loop.js';

/** What routes may use. */
export interface ServerContext {
  store: Store;
  storeKind: string;
  controlPlane: ControlPlane;
  scheduler: SchedulerLoop;
  metrics: Metrics;
  clock: Clock;
  version: string;
  startedAt: number;
}
