import type { ApiToken, AuditEntry, Role } from '../core/access.js';

/** API tokens and audit entries as both stores keep them (tables `api_tokens` and `audit_log`). */
export const TOKEN_COLUMNS = 'id, name, role, created_at, revoked_at, last_used_at';
export const AUDIT_COLUMNS = 'id, at, actor, actor_token_id, role, action, target, outcome, detail';

export interface TokenRow {
  id: string;
  name: string;
  role: string;
  created_at: number;
  revoked_at: number | null;
  last_used_at: number | null;
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  actor_token_id: string | null;
  role: string | null;
  action: string;
  target: string;
  outcome: string;
  detail: string | null;
}

/** Larger than any audit id: the first page starts below it. */
export const NO_AUDIT_CURSOR = Number.MAX_SAFE_INTEGER;

export function tokenFromRow(row: TokenRow): ApiToken {
  return { id: row.id, name: row.name, role: row.role as Role, createdAt: row.created_at, revokedAt: row.revoked_at, lastUsedAt: row.last_used_at };
}

export function auditFromRow(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    actorTokenId: row.actor_token_id,
    role: row.role as Role | null,
    action: row.action as AuditEntry['action'],
    target: row.target,
    outcome: row.outcome as AuditEntry['outcome'],
    detail: row.detail,
  };
}
