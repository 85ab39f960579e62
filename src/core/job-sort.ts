/**
 * The orders a job listing can be read in (GET /v1/jobs?sort=…): a key and a
 * direction, `-` for descending. Ties are broken by id in the same direction,
 * so every order is total and a cursor (the last row's key and id) names an
 * exact place to go on from, however many rows share a key.
 *
 * The set is small on purpose: each key has an index of its own in both stores
 * (migration 0011), so a page reads about `limit` index entries in any order.
 */
export const JOB_SORT_KEYS = ['id', 'priority', 'created', 'updated'] as const;
export type JobSortKey = (typeof JOB_SORT_KEYS)[number];

export const JOB_SORTS = JOB_SORT_KEYS.flatMap((k) => [`-${k}`, k] as const);
export type JobSort = JobSortKey | `-${JobSortKey}`;

/** Newest first, as listings always were. */
export const DEFAULT_JOB_SORT: JobSort = '-id';

export interface JobOrder {
  key: JobSortKey;
  descending: boolean;
}

export function isJobSort(value: string): value is JobSort {
  return (JOB_SORTS as readonly string[]).includes(value);
}

export function jobOrder(sort: JobSort): JobOrder {
  const descending = sort.startsWith('-');
  return { key: (descending ? sort.slice(1) : sort) as JobSortKey, descending };
}
