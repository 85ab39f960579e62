import type { ApiToken, AuditEntry, AuditRecord } from '../../core/access.js';
import { TokenNameTakenError } from '../../core/errors.js';
import type { AuditFilter, NewToken } from '../access-store.js';
import { AUDIT_COLUMNS, auditFromRow, NO_AUDIT_CURSOR, TOKEN_COLUMNS, tokenFromRow, type AuditRow, type TokenRow } from '../access-rows.js';
import type { Page, PageRequest } from '../page.js';
import type { Sql } from './postgres-pool.js';
import { checkPageLimit, decodeCursor, encodeCursor } from '../page.js';

/**
 * API tokens and the audit log (the AccessStore half of the Store), in the
 * shape of the SQLite store's access-queries.ts. Writes that record an audit
 * entry run in the caller's transaction (postgres-store.ts), so the change and
 * its record commit together.
 */

/** The unique index that keeps live token names unique (0003-access.sql). */
const LIVE_NAME_INDEX = 'api_tokens_live_name';
const UNIQUE_VIOLATION = '23505';

/** Parameters: id, name, role, token_hash, created_at. */
const INSERT_TOKEN = `INSERT INTO api_tokens (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING ${TOKEN_COLUMNS}`;
/** Parameters: token_hash. */
const SELECT_BY_HASH = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1`;
/** Parameters: id. */
const SELECT_BY_ID = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE id = $1 FOR NO KEY UPDATE`;
const SELECT_LIVE = `SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE revoked_at IS NULL ORDER BY created_at, seq`;
const SELECT_ALL = `SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, seq`;
/** Parameters: revoked_at, id. */
const REVOKE = `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING ${TOKEN_COLUMNS}`;
/** Parameters: last_used_at, id. */
const TOUCH = `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`;
/** Parameters: at, actor, actor_token_id, role, action, target, outcome, detail. */
const INSERT_AUDIT = `INSERT INTO audit_log (at, actor, actor_token_id, role, action, target, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`;
/** Newest first. Parameters: before id, limit. */
const SELECT_AUDIT = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2`;
/** Retention. Parameters: before. */
const PURGE_AUDIT = `DELETE FROM audit_log WHERE at < $1`;
/** Parameters: before id, limit, action. */
const SELECT_AUDIT_BY_ACTION = `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE action = $3 AND id < $1 ORDER BY id DESC LIMIT $2`;

export async function appendAudit(sql: Sql, r: AuditRecord): Promise<AuditEntry> {
  const [row] = await sql.query<{ id: number }>(INSERT_AUDIT, [r.at, r.actor, r.actorTokenId, r.role, r.action, r.target, r.outcome, r.detail]);
  return { id: row!.id, ...r };
}

/**
 * In a write transaction. Two replicas creating the same name at once both pass
 * no check but the unique index, which fails the second: that is the error.
 */
export async function createToken(sql: Sql, t: NewToken, audit: AuditRecord): Promise<ApiToken> {
  let row: TokenRow | undefined;
  try {
    [row] = await sql.query<TokenRow>(INSERT_TOKEN, [t.id, t.name, t.role, t.hash, t.createdAt]);
  } catch (err) {
    if (isLiveNameConflict(err)) throw new TokenNameTakenError(t.name);
    throw err;
  }
  await appendAudit(sql, audit);
  return tokenFromRow(row!);
}

export async function findTokenByHash(sql: Sql, hash: string): Promise<ApiToken | null> {
  const [row] = await sql.query<TokenRow>(SELECT_BY_HASH, [hash]);
  return row ? tokenFromRow(row) : null;
}

export async function listTokens(sql: Sql, options: { includeRevoked?: boolean } = {}): Promise<ApiToken[]> {
  return (await sql.query<TokenRow>(options.includeRevoked ? SELECT_ALL : SELECT_LIVE)).map(tokenFromRow);
}

/** In a write transaction: the revoke (or, for a token revoked already, a lock on its row), then the audit record. */
export async function revokeToken(sql: Sql, id: string, now: number, audit: (token: ApiToken, changed: boolean) => AuditRecord): Promise<ApiToken | null> {
  const [revoked] = await sql.query<TokenRow>(REVOKE, [now, id]);
  const row = revoked ?? (await sql.query<TokenRow>(SELECT_BY_ID, [id]))[0];
  if (!row) return null;
  const token = tokenFromRow(row);
  await appendAudit(sql, audit(token, revoked !== undefined));
  return token;
}

export async function touchToken(sql: Sql, id: string, now: number): Promise<void> {
  await sql.execute(TOUCH, [now, id]);
}

export async function listAudit(sql: Sql, filter: AuditFilter, page: PageRequest): Promise<Page<AuditEntry>> {
  checkPageLimit(page);
  const before = page.cursor === undefined ? NO_AUDIT_CURSOR : decodeCursor('a', page.cursor);
  const rows =
    filter.action === undefined
      ? await sql.query<AuditRow>(SELECT_AUDIT, [before, page.limit + 1])
      : await sql.query<AuditRow>(SELECT_AUDIT_BY_ACTION, [before, page.limit + 1, filter.action]);
  const more = rows.length > page.limit;
  const items = (more ? rows.slice(0, page.limit) : rows).map(auditFromRow);
  const last = items[items.length - 1];
  return { items, nextCursor: more && last ? encodeCursor('a', last.id) : null };
}

export async function purgeAudit(sql: Sql, before: number): Promise<number> {
  return sql.execute(PURGE_AUDIT, [before]);
}

function isLiveNameConflict(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === UNIQUE_VIOLATION && e.constraint === LIVE_NAME_INDEX;
}
