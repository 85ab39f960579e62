import type { NodeCapacity } from '../core/scheduler/snapshot.js';

/**
 * Whether new attempts may go to a node, from its two states as stored (the same on every
 * database): `state` (up/down, decided by heartbeats) and `admin_state` (the operator's
 * active/cordoned/draining). Down wins in the reason: a down node takes nothing whatever
 * the operator said. applyPlan applies the same rule to refuse stale placements.
 */
export function schedulability(state: string, adminState: string): Pick<NodeCapacity, 'schedulable' | 'unschedulableBecause'> {
  if (state !== 'up') return { schedulable: false, unschedulableBecause: 'down' };
  if (adminState === 'cordoned' || adminState === 'draining') return { schedulable: false, unschedulableBecause: adminState };
  return { schedulable: true, unschedulableBecause: null };
}
