/** One page of a list, newest first; the cursor is opaque (echo it back for the next page). */

export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
