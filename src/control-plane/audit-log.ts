import type { Logger } from 'pino';
import { auditActor, type AuditAction, type AuditOutcome, type AuditRecord, type Principal } from '../core/access.js';
import type { Clock } from '../core/clock.js';
import type { AccessStore } from '../store/access-store.js';

/**
 * Writes operator actions to the audit log: who, when, what, to what, and how
 * it ended. An action's record is appended right after the action, before the
 * response is sent (token creation and revocation go further: their record is
 * written in the same store transaction, see tokens.ts and routes/tokens.ts).
 * Each record also goes to the server log, so an action whose record could not
 * be stored (the store failed just after the action) still leaves a trace.
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
   * Runs an operator action and records it: `ok` with the detail the action
   * returns, or `failed` with the error's message (the error is rethrown).
   */
  async run<T>(principal: Principal, action: AuditAction, target: string, act: () => Promise<{ result: T; detail: string | null }>): Promise<T> {
    let done: { result: T; detail: string | null };
    try {
      done = await act();
    } catch (err) {
      await this.record(this.entry(principal, action, target, 'failed', err instanceof Error ? err.message : String(err)));
      throw err;
    }
    await this.record(this.entry(principal, action, target, 'ok', done.detail));
    return done.result;
  }
}

/** Job ids for an audit target or detail: at most the first 20, so a record stays short. */
export function auditIdList(ids: number[]): string {
  if (ids.length === 0) return '';
  const shown = ids.slice(0, 20).join(' ');
  return ids.length > 20 ? ` (${shown} … and ${ids.length - 20} more)` : ` (${shown})`;
}
