import { createHash, randomBytes } from 'node:crypto';
import { auditActor, type ApiToken, type Principal, type Role } from '../core/access.js';
import type { AccessStore } from '../store/access-store.js';

/**
 * API tokens: made from crypto.randomBytes, stored only as their SHA-256.
 *
 * A token is `gpuq_` + 32 random bytes in base64url (43 characters): 256 bits
 * of entropy, so a fast hash is enough. A slow KDF (bcrypt, scrypt) protects
 * low-entropy secrets from guessing after a database leak; nobody can guess a
 * 256-bit value however fast the hash, and a fast hash lets the server find a
 * token by an index lookup on its hash, on every request, without a cache (so
 * a revoke takes effect at once, on every server sharing the store).
 * The prefix makes a leaked token easy to recognize (secret scanners, logs).
 */

const PREFIX = 'gpuq_';
const SECRET_BYTES = 32;
/** What a well-formed token looks like; anything else is refused before the store is asked. */
const TOKEN_FORMAT = /^gpuq_[A-Za-z0-9_-]{43,128}$/;

export function generateToken(random: (bytes: number) => Buffer = randomBytes): string {
  return PREFIX + random(SECRET_BYTES).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function looksLikeToken(value: string): boolean {
  return TOKEN_FORMAT.test(value);
}

/** Public token ids are random, not sequential: they reveal nothing about how many tokens exist. */
export function newTokenId(random: (bytes: number) => Buffer = randomBytes): string {
  return `tok_${random(8).toString('hex')}`;
}

/** A token just created: the plaintext, shown this once and never stored. */
export interface IssuedToken extends ApiToken {
  token: string;
}

/**
 * Creates a token and records who created it, in one store transaction.
 * `name` and `role` must be valid already (request-schemas.ts newTokenBody).
 * Used by POST /v1/tokens and by `gpuq token create --data-dir/--database-url`,
 * which bootstraps the first admin token straight in the database.
 */
export async function issueToken(store: AccessStore, now: number, input: { name: string; role: Role }, by: Principal, detail?: string): Promise<IssuedToken> {
  const token = generateToken();
  const id = newTokenId();
  const stored = await store.createToken(
    { id, name: input.name, role: input.role, hash: hashToken(token), createdAt: now },
    { at: now, ...auditActor(by), action: 'tokens.create', target: `token ${input.name} (${id})`, outcome: 'ok', detail: detail ?? `role ${input.role}` },
  );
  return { ...stored, token };
}
