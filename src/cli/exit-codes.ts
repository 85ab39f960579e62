/** Exit codes of every gpuq command. */
export const EXIT = Object.freeze({
  OK: 0,
  /** The operation ran and reports failure: a job failed or was cancelled, a probe did not complete. */
  FAILED: 1,
  /** Bad arguments or a request the server refused as invalid (4xx). */
  USAGE: 2,
  /** The server could not be reached. */
  UNREACHABLE: 3,
  /** The job (or other object) does not exist. */
  NOT_FOUND: 4,
  /** The server refused because it is draining or unavailable (503). */
  UNAVAILABLE: 5,
  /** A deadline passed (wait --timeout, probe --timeout). */
  TIMEOUT: 6,
  /** The server refused the token: none, unknown or revoked (401), or its role may not do this (403). */
  AUTH: 7,
});
