import type { Database } from 'better-sqlite3';
import type { ApiToken, AuditEntry, AuditRecord } from '../../core/access.js';
import { TokenNameTakenError } from '../../core/errors.js';
import type { AuditFilter, NewToken } from '../access-store.js';
import { AUDIT_COLUMNS, auditFromRow, NO_AUDIT_CURSOR, TOKEN_COLUMNS, tokenFromRow, type AuditRow, type TokenRow } from '../access-rows.js';
import type { Page, PageRequest } from '../page.js';
import { checkPageLimit, decodeCursor, encodeCursor } from '../page.js';

/**
 * API tokens and the audit log (the AccessStore half of the Store). Functions
 * here run inside the transaction the caller opened (sqlite-store.ts), so a
 * token's creation or revocation and its audit record commit together.
 */

/** Parameters: name. */
const SELECT_LIVE_BY_NAME = `SELECT id FROM api_tokens WHERE name = ? AND revoked_at IS NULL`;
/** Parameters: id, name, role, token_hash, created_at. */
const INSERT_TOKEN = `INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING ${TOKEN_COLUMNS}`;
/** Parameters: token_hash. */
const SELECT_BY_HASH = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?`;
/** Parameters: id. */
const SELECT_BY_ID = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = ?`;
const SELECT_LIVE = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, rowid`;
const SELECT_ALL = `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, rowid`;
/** Parameters: revoked_at, id. */
const REVOKE = `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`;
/** Parameters: last_used_at, id. */
const TOUCH = `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`;
/** Parameters: at, actor, actor_token_id, role, action, target, outcome, detail. */
const INSERT_AUDIT = `INSERT INTO audit_log (at, actor, actor_token_id, role, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`;
/** Newest first. Parameters: before id, limit. */
const SELECT_AUDIT = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?`;
/** Retention. Parameters: before. */
const PURGE_AUDIT = `DELETE FROM audit_log WHERE at < ?`;
/** Parameters: action, before id, limit. */
const SELECT_AUDIT_BY_ACTION = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE action = ? AND id < ? ORDER BY id DESC LIMIT ?`;

export type AccessQueries = ReturnType<typeof prepareAccessQueries>;

export function prepareAccessQueries(db: Database) {
  const selectLiveByName = db.prepare<[string], { id: string }>(SELECT_LIVE_BY_NAME);
  const insertToken = db.prepare<[string, string, string, string, number], TokenRow>(INSERT_TOKEN);
  const selectByHash = db.prepare<[string], TokenRow>(SELECT_BY_HASH);
  const selectById = db.prepare<[string], TokenRow>(SELECT_BY_ID);
  const selectLive = db.prepare<[], TokenRow>(SELECT_LIVE);
  const selectAll = db.prepare<[], TokenRow>(SELECT_ALL);
  const revoke = db.prepare<[number, string], TokenRow>(REVOKE);
  const touch = db.prepare<[number, string]>(TOUCH);
  const insertAudit = db.prepare<[number, string, string | null, string | null, string, string, string, string | null], { id: number }>(INSERT_AUDIT);
  const selectAudit = db.prepare<[number, number], AuditRow>(SELECT_AUDIT);
  const selectAuditByAction = db.prepare<[string, number, number], AuditRow>(SELECT_AUDIT_BY_ACTION);
  const purgeAuditStmt = db.prepare<[number]>(PURGE_AUDIT);

  function appendAudit(r: AuditRecord): AuditEntry {
    const { id } = insertAudit.get(r.at, r.actor, r.actorTokenId, r.role, r.action, r.target, r.outcome, r.detail)!;
    return { id, ...r };
  }

  function createToken(t: NewToken, audit: AuditRecord): ApiToken {
    // Checked first for a clear error; the partial unique index is what guarantees it.
    if (selectLiveByName.get(t.name)) throw new TokenNameTakenError(t.name);
    const row = insertToken.get(t.id, t.name, t.role, t.hash, t.createdAt)!;
    appendAudit(audit);
    return tokenFromRow(row);
  }

  function findTokenByHash(hash: string): ApiToken | null {
    const row = selectByHash.get(hash);
    return row ? tokenFromRow(row) : null;
  }

  function listTokens(options: { includeRevoked?: boolean } = {}): ApiToken[] {
    return (options.includeRevoked ? selectAll.all() : selectLive.all()).map(tokenFromRow);
  }

  function revokeToken(id: string, now: number, audit: (token: ApiToken, changed: boolean) => AuditRecord): ApiToken | null {
    const revoked = revoke.get(now, id);
    const row = revoked ?? selectById.get(id);
    if (!row) return null;
    const token = tokenFromRow(row);
    appendAudit(audit(token, revoked !== undefined));
    return token;
  }

  function touchToken(id: string, now: number): void {
    touch.run(now, id);
  }

  function listAudit(filter: AuditFilter, page: PageRequest): Page<AuditEntry> {
    checkPageLimit(page);
    const before = page.cursor === undefined ? NO_AUDIT_CURSOR : decodeCursor('a', page.cursor);
    const rows = filter.action === undefined ? selectAudit.all(before, page.limit + 1) : selectAuditByAction.all(filter.action, before, page.limit + 1);
    const more = rows.length > page.limit;
    const items = (more ? rows.slice(0, page.limit) : rows).map(auditFromRow);
    const last = items[items.length - 1];
    return { items, nextCursor: more && last ? encodeCursor('a', last.id) : null };
  }

  function purgeAudit(before: number): number {
    return purgeAuditStmt.run(before).changes;
  }

  return { createToken, findTokenByHash, listTokens, revokeToken, touchToken, appendAudit, listAudit, purgeAudit };
}
