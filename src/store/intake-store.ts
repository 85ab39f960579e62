import type { AuditOf } from './access-store.js';

/**
 * Broker intake's durable state (migration 0016, ADR 0017): which sources are paused (and the emergency stop of
 * them all, a row of its own named `*`), and each sink's cursor in the event feed (the last feed id it published,
 * so a sink that was down resumes there and misses no final state). Part of the Store; each method one transaction.
 */
export interface IntakeStore {
  /** The paused sources by name, and whether every source is stopped (`gpuq intake pause --all`). */
  getIntakePauses(): Promise<IntakePauses>;
  /**
   * Pauses (paused=true) or resumes the named sources, or, with 'all', sets the emergency stop of every source.
   * Resuming 'all' clears the emergency stop and every source's own pause. Returns the state after the change.
   */
  setIntakePaused(target: string[] | 'all', paused: boolean, now: number, audit?: AuditOf<IntakePauses>): Promise<IntakePauses>;
  /** The last feed id a sink published (0: none yet), by sink name; sinks never advanced are absent. */
  getSinkCursors(): Promise<Record<string, number>>;
  /** Moves a sink's cursor to `feedId` (never back: a lower id changes nothing). */
  advanceSinkCursor(sink: string, feedId: number, now: number): Promise<void>;
}

export interface IntakePauses {
  /** The emergency stop: no source consumes, whatever its own pause. */
  all: boolean;
  /** Sources paused one by one, sorted by name. */
  sources: string[];
}

/** The emergency stop's row name in intake_pauses: no source may be called '*' (core/intake-config.ts names). */
export const ALL_SOURCES = '*';

/** The pauses as the rows name them. */
export function pausesFromNames(names: string[]): IntakePauses {
  return { all: names.includes(ALL_SOURCES), sources: names.filter((n) => n !== ALL_SOURCES).sort() };
}
