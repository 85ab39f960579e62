import type { ApiToken, AuditAction, AuditEntry, AuditRecord, Role } from '../core/access.js';
import type { Fence } from './leadership.js';
import type { Page, PageRequest } from './page.js';

/**
 * What the store keeps for access control: API tokens (hashed) and the audit
 * log of operator actions. Part of the Store (`Store extends AccessStore`);
 * kept in its own interface so the token and audit queries stay in their own
 * modules (sqlite/access-queries.ts, postgres/access-queries.ts). Like every
 * Store method, each is one transaction, durable when it resolves.
 */
export interface AccessStore {
  /**
   * Inserts a token and the audit record of its creation in one transaction.
   * Throws TokenNameTakenError when a live token already has the name.
   */
  createToken(token: NewToken, audit: AuditRecord): Promise<ApiToken>;
  /** The token whose SHA-256 hash this is, live or revoked (the caller refuses revoked ones); null when none. */
  findTokenByHash(hash: string): Promise<ApiToken | null>;
  /** Live tokens (and revoked ones with includeRevoked), oldest first. Never the hashes. */
  listTokens(options?: { includeRevoked?: boolean }): Promise<ApiToken[]>;
  /**
   * Revokes a token (revoked_at = now; a revoked token stays revoked at its first
   * time) and records `audit(token, changed)` in the same transaction. Returns
   * the token, or null when no token has this id (then nothing is recorded).
   */
  revokeToken(id: string, now: number, audit: (token: ApiToken, changed: boolean) => AuditRecord): Promise<ApiToken | null>;
  /** Sets last_used_at; callers do it at most once a minute per token (core/access.ts shouldTouchToken). */
  touchToken(id: string, now: number): Promise<void>;
  appendAudit(record: AuditRecord): Promise<AuditEntry>;
  /** Newest first; the cursor is opaque. */
  listAudit(filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>>;
  /** Deletes the audit entries recorded before `before` (retention; leader-only, fenced like the other purges). Returns how many. */
  purgeAudit(before: number, fence?: Fence): Promise<number>;
}

/**
 * The audit record an operator's write calls for, given what it did (null: none). Passed to the store
 * method that does it, which appends the record in the same transaction: an action is never committed
 * without its record, nor a record without its action.
 */
export type AuditOf<T> = (outcome: T) => AuditRecord | null;

/** A token to store: its public fields and the SHA-256 hex of its plaintext. */
export interface NewToken {
  id: string;
  name: string;
  role: Role;
  hash: string;
  createdAt: number;
}

export interface AuditFilter {
  action?: AuditAction;
}
