/**
 * Every failure gpuq reports has a stable `code`. Codes map to HTTP status only
 * at the API edge (control-plane/http-errors.ts); nothing here knows about HTTP.
 */
export type ErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNSCHEDULABLE'
  | 'JOB_NOT_FOUND'
  | 'DRAINING'
  | 'STORE_UNAVAILABLE'
  | 'NOT_FOUND'
  | 'MALFORMED_REQUEST'
  | 'BODY_TOO_LARGE'
  | 'INTERNAL';

export class GpuqError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** One rule that a field broke; `path` is the dotted field name ("backoff.initialSeconds", "jobs.3.gpus"). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Input broke a rule of the job spec or a request schema. Nothing was stored. */
export class ValidationError extends GpuqError {
  readonly issues: FieldIssue[];
  constructor(issues: FieldIssue[], options?: { cause?: unknown }) {
    super('VALIDATION_FAILED', issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), options);
    this.issues = issues;
  }
}

/** The job can never run on the current cluster (e.g. more GPUs than any node has). Nothing was stored. */
export class UnschedulableError extends GpuqError {
  readonly jobIndex: number | undefined;
  constructor(message: string, jobIndex?: number) {
    super('UNSCHEDULABLE', message);
    this.jobIndex = jobIndex;
  }
}

/** No job has this ID (it never existed, or retention purged it). */
export class JobNotFoundError extends GpuqError {
  readonly jobId: number;
  constructor(jobId: number) {
    super('JOB_NOT_FOUND', `job ${jobId} not found`);
    this.jobId = jobId;
  }
}

/** The system is in drain mode: new submissions are refused until `gpuq resume`. */
export class DrainingError extends GpuqError {
  constructor() {
    super('DRAINING', 'gpuq is draining for maintenance: new jobs are not accepted; running jobs finish. Run `gpuq resume` (POST /v1/control/maintenance {"mode":"normal"}) to accept jobs again.');
  }
}
