import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import type { Store } from '../../store/store.js';
import type { ControlPlane } from '../control-plane.js';
import type { Metrics } from '../metrics.js';
import { PoolController } from './pool-controller.js';
import { PoolMetrics } from './pool-metrics.js';
import { PoolService } from './pool-service.js';

/** How often the pool controller passes when nothing wakes it (task deadlines, idle timeouts, restart backoffs). */
const CONTROLLER_PERIOD_MS = 500;

export interface Pools {
  service: PoolService;
  /** The leader's loop: started when this server is elected, stopped when deposed. */
  controller: PoolController;
}

/**
 * A server's pools (ADR 0016): the use cases every server serves, the leader's controller, their metrics,
 * and the replica credentials added to assignments on their way to agents.
 */
export async function createPools(deps: { store: Store; controlPlane: ControlPlane; clock: Clock; metrics: Metrics; log: Logger; gpuLimit: number | null; memoryPressurePct: number }): Promise<Pools> {
  const { store, controlPlane, clock, log, gpuLimit, memoryPressurePct } = deps;
  const metrics = new PoolMetrics(deps.metrics.registry, store, gpuLimit, () => clock.now());
  const service = new PoolService(
    {
      store,
      clock,
      metrics,
      log: log.child({ component: 'pools' }),
      cancelJobs: (ids, reason) => controlPlane.cancel({ ids }, reason),
      capacity: () => controlPlane.capacity(),
      maintenance: () => controlPlane.maintenanceMode,
    },
    { gpuLimit },
  );
  await service.init();
  controlPlane.decorateAssignments = (attempts) => service.replicaCredentials.withCredentials(attempts);
  const controller = new PoolController(store, (write) => controlPlane.leaderWrite(write), clock, metrics, log.child({ component: 'pool-controller' }), (replicas, reason, detail) => service.killReplicas(replicas, reason, detail), {
    periodMs: CONTROLLER_PERIOD_MS,
    gpuLimit,
    memoryPressurePct,
  });
  service.onChange = () => controller.wake();
  return { service, controller };
}
