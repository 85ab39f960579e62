import type { Logger } from 'pino';
import { auditActor, type AuditAction, type AuditOutcome, type AuditRecord, type Principal } from '../core/access.js';
import type { Clock } from '../core/clock.js';
import type { AccessStore } from '../store/access-store.js';

/**
 * Writes operator actions to the audit log: who, when, what, to what, and how
 * it ended. An action that succeeds has its record written in the action's own
 * store transaction (`runAtomic`; token creation and revocation likewise, see
 * routes/tokens.ts), so neither is committed without the other; a refused or
 * failed action, which changed nothing, is recorded after it. Each record also
 * goes to the server log.
 */
export class AuditLog {
  constructor(
    private readonly store: AccessStore,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** The record of an action by `principal`, at the current time. */
  entry(principal: Principal, action: AuditAction, target: string, outcome: AuditOutcome, detail: string | null): AuditRecord {
    return { at: this.clock.now(), ...auditActor(principal), action, target, outcome, detail };
  }

  /** Appends a record. Never throws: a failure to record is logged at error level, and the caller's answer stands. */
  async record(entry: AuditRecord): Promise<void> {
    this.log.info({ audit: entry }, `audit: ${entry.actor} ${entry.action} ${entry.target}: ${entry.outcome}`);
    try {
      await this.store.appendAudit(entry);
    } catch (err) {
      this.log.error({ err, audit: entry }, 'could not write an audit record to the store');
    }
  }

  /**
   * Runs an operator action whose `ok` record is written in the action's own transaction: `act` passes
   * `ok(detail)` to the store method as its audit (store/access-store.ts AuditOf). An action that throws
   * is recorded `failed` with the error's message, after it (the error is rethrown).
   */
  async runAtomic<T>(principal: Principal, action: AuditAction, target: string, act: (ok: (detail: string | null) => AuditRecord) => Promise<T>): Promise<T> {
    const written: { record: AuditRecord | null } = { record: null };
    const ok = (detail: string | null): AuditRecord => (written.record = this.entry(principal, action, target, 'ok', detail));
    let result: T;
    try {
      result = await act(ok);
    } catch (err) {
      await this.record(this.entry(principal, action, target, 'failed', err instanceof Error ? err.message : String(err)));
      throw err;
    }
    const entry = written.record;
    if (entry !== null) this.log.info({ audit: entry }, `audit: ${entry.actor} ${entry.action} ${entry.target}: ${entry.outcome}`);
    return result;
  }
}

/** Job ids for an audit target or detail: at most the first 20, so a record stays short. */
export function auditIdList(ids: number[]): string {
  if (ids.length === 0) return '';
  const shown = ids.slice(0, 20).join(' ');
  return ids.length > 20 ? ` (${shown} … and ${ids.length - 20} more)` : ` (${shown})`;
}
