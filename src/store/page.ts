import { ValidationError } from '../core/errors.js';

/** One page of a list, newest first; the cursor is opaque (echo it back for the next page). */

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Cursors are opaque to callers: base64url of "<kind><last id>" ("j" for jobs, "a" for the audit log, "t" for pool tasks),
 * the same on every database, so the encoding can change without breaking clients that only echo it back.
 */
export type CursorKind = 'j' | 'a' | 't';

export function encodeCursor(kind: CursorKind, lastId: number): string {
  return Buffer.from(`${kind}${lastId}`).toString('base64url');
}

/** The last id of a cursor of this kind; a ValidationError naming `cursor` when it is not one. */
export function decodeCursor(kind: CursorKind, cursor: string): number {
  const m = new RegExp(`^${kind}(\\d{1,15})$`).exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new ValidationError([{ path: 'cursor', message: `is not a cursor returned by a previous page${kind === 'a' ? ' of the audit log' : kind === 't' ? ' of the pool\'s tasks' : ''}; start again without one` }]);
  return Number(m[1]);
}

export function checkPageLimit(page: PageRequest): void {
  if (!Number.isInteger(page.limit) || page.limit < 1) throw new ValidationError([{ path: 'limit', message: 'must be a positive integer' }]);
}
