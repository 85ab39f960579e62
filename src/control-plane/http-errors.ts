import { GpuqError, UnauthenticatedError, ValidationError, type ErrorCode, type FieldIssue } from '../core/errors.js';

/** Every error code with its HTTP status: the one place codes meet HTTP. docs/errors.md is kept in step by a test. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  VALIDATION_FAILED: 400,
  MALFORMED_REQUEST: 400,
  UNSCHEDULABLE: 422,
  JOB_NOT_FOUND: 404,
  NOT_FOUND: 404,
  BODY_TOO_LARGE: 413,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TOKEN_NAME_TAKEN: 409,
  AGENT_SESSION_EXPIRED: 410,
  NODE_UNREACHABLE: 502,
  POOL_NOT_FOUND: 404,
  POOL_EXISTS: 409,
  PIPELINE_NOT_FOUND: 404,
  PIPELINE_EXISTS: 409,
  PIPELINE_RUN_NOT_FOUND: 404,
  TRIGGER_NOT_FOUND: 404,
  TRIGGER_EXISTS: 409,
  CLAIM_TAKEN: 409,
  SCHEDULE_NOT_FOUND: 404,
  SCHEDULE_EXISTS: 409,
  FIRE_TAKEN: 409,
  POOL_STOPPED: 409,
  TASK_NOT_FOUND: 404,
  REPLICA_GONE: 410,
  DRAINING: 503,
  NOT_LEADER: 503,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

export interface ErrorBody {
  error: { code: ErrorCode; message: string; issues?: FieldIssue[] };
}

/** Maps anything thrown in a route to a status, headers and a body that says what to do; never leaks a stack. */
export function toHttpError(e: unknown): { status: number; body: ErrorBody; headers?: Record<string, string> } {
  if (e instanceof UnauthenticatedError) {
    // RFC 6750: a 401 names the scheme; a token that was sent and refused is an invalid_token.
    const challenge = e.reason === 'missing' ? 'Bearer realm="gpuq"' : 'Bearer realm="gpuq", error="invalid_token"';
    return { status: HTTP_STATUS.UNAUTHENTICATED, body: { error: { code: e.code, message: e.message } }, headers: { 'www-authenticate': challenge } };
  }
  if (e instanceof ValidationError) {
    return { status: HTTP_STATUS.VALIDATION_FAILED, body: { error: { code: e.code, message: e.message, issues: e.issues } } };
  }
  if (e instanceof GpuqError) return { status: HTTP_STATUS[e.code], body: { error: { code: e.code, message: e.message } } };
  const fe = e as { code?: string; statusCode?: number; message?: string };
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, body: { error: { code: 'BODY_TOO_LARGE', message: `request body is larger than the server accepts (${fe.message ?? ''}); split the batch` } } };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    const message = fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'send JSON with Content-Type: application/json' : `malformed request: ${fe.message ?? 'unreadable body'}`;
    return { status: fe.statusCode === 415 ? 415 : 400, body: { error: { code: 'MALFORMED_REQUEST', message } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'internal error; see the server log' } } };
}
