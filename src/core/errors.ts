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
  | 'NOT_LEADER'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'TOKEN_NAME_TAKEN'
  | 'AGENT_SESSION_EXPIRED'
  | 'NODE_UNREACHABLE'
  | 'POOL_NOT_FOUND'
  | 'POOL_EXISTS'
  | 'PIPELINE_NOT_FOUND'
  | 'PIPELINE_EXISTS'
  | 'PIPELINE_RUN_NOT_FOUND'
  | 'TRIGGER_NOT_FOUND'
  | 'TRIGGER_EXISTS'
  | 'CLAIM_TAKEN'
  | 'SCHEDULE_NOT_FOUND'
  | 'SCHEDULE_EXISTS'
  | 'FIRE_TAKEN'
  | 'POOL_STOPPED'
  | 'TASK_NOT_FOUND'
  | 'REPLICA_GONE'
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

/** No node has this ID (no agent ever registered it). */
export class NodeNotFoundError extends GpuqError {
  readonly nodeId: string;
  constructor(nodeId: string) {
    super('NOT_FOUND', `node ${nodeId} not found: \`gpuq nodes\` lists the known nodes`);
    this.nodeId = nodeId;
  }
}

/** The system is in drain mode: new submissions are refused until `gpuq resume`. */
/** A leader-only write carried a term that is no longer the current one: this server was deposed (store/leadership.ts). */
export class NotLeaderError extends GpuqError {
  constructor(
    readonly term: number,
    readonly currentTerm: number | null,
  ) {
    super('NOT_LEADER', `this server's leadership (term ${term}) has ended${currentTerm === null ? '' : `; the current term is ${currentTerm}`}: only the leader schedules, reclaims and purges`);
  }
}

export class DrainingError extends GpuqError {
  constructor() {
    super('DRAINING', 'gpuq is draining for maintenance: new jobs are not accepted; running jobs finish. Run `gpuq resume` (POST /v1/control/maintenance {"mode":"normal"}) to accept jobs again.');
  }
}

/**
 * The request carried no API token, or one that is unknown or revoked, while
 * the server requires tokens (`gpuq up --auth required`, the default off loopback).
 */
export class UnauthenticatedError extends GpuqError {
  /** Why, in RFC 6750 terms: no token at all, or a token the server does not accept. */
  readonly reason: 'missing' | 'invalid';
  constructor(reason: 'missing' | 'invalid') {
    super(
      'UNAUTHENTICATED',
      reason === 'missing'
        ? 'this server requires an API token: send "Authorization: Bearer <token>" (the CLI reads --token or $GPUQ_TOKEN); an admin creates one with `gpuq token create`'
        : 'the API token is unknown or revoked; ask an admin for a new one (`gpuq token create`)',
    );
    this.reason = reason;
  }
}

/** The caller's token is valid but its role does not allow the action. Nothing changed. */
export class ForbiddenError extends GpuqError {
  readonly role: string;
  readonly action: string;
  constructor(role: string, action: string, message: string) {
    super('FORBIDDEN', message);
    this.role = role;
    this.action = action;
  }
}

/** A live token already has this name (names are unique among live tokens; a revoked token's name is free again). */
export class TokenNameTakenError extends GpuqError {
  readonly tokenName: string;
  constructor(name: string) {
    super('TOKEN_NAME_TAKEN', `a live token is already named "${name}": choose another name, or revoke that token first (\`gpuq token ls\`, \`gpuq token revoke ID\`)`);
    this.tokenName = name;
  }
}

/**
 * A remote agent polled for work with a session this server does not hold: it was replaced by a newer
 * registration of the node, detached after the agent stopped polling, or held by a server that has since
 * restarted (or by another server). The agent registers again and gets a new session.
 */
export class AgentSessionExpiredError extends GpuqError {
  readonly nodeId: string;
  constructor(nodeId: string) {
    super('AGENT_SESSION_EXPIRED', `node ${nodeId} has no such agent session on this server (replaced, idle too long, or the server restarted): register again (POST /v1/agents/register)`);
    this.nodeId = nodeId;
  }
}

/**
 * The node holding an attempt's log or artifacts (a remote agent's log server) could not be reached, or
 * refused the server.
 */
export class NodeUnreachableError extends GpuqError {
  readonly nodeId: string;
  /** @param what what was to be read, for the message. @default "the log" */
  constructor(nodeId: string, detail: string, options?: { cause?: unknown; what?: string }) {
    const what = options?.what ?? 'the log';
    super('NODE_UNREACHABLE', `${what} is on node ${nodeId}, whose agent cannot be reached (${detail}); it is readable again once the agent runs`, options);
    this.nodeId = nodeId;
  }
}

/** No pool has this name (never created, or deleted). */
export class PoolNotFoundError extends GpuqError {
  readonly pool: string;
  constructor(pool: string) {
    super('POOL_NOT_FOUND', `pool "${pool}" not found: \`gpuq pool ls\` lists the pools`);
    this.pool = pool;
  }
}

/** A pool of this name exists already. Nothing changed. */
export class PoolExistsError extends GpuqError {
  readonly pool: string;
  constructor(pool: string) {
    super('POOL_EXISTS', `a pool named "${pool}" exists already: change it with \`gpuq pool update\`, or delete it first`);
    this.pool = pool;
  }
}

/** No pipeline has this name (never created, or deleted). */
export class PipelineNotFoundError extends GpuqError {
  readonly pipeline: string;
  constructor(pipeline: string) {
    super('PIPELINE_NOT_FOUND', `pipeline "${pipeline}" not found: \`gpuq pipeline ls\` lists the pipelines`);
    this.pipeline = pipeline;
  }
}

/** A pipeline of this name exists already. Nothing changed. */
export class PipelineExistsError extends GpuqError {
  readonly pipeline: string;
  constructor(pipeline: string) {
    super('PIPELINE_EXISTS', `a pipeline named "${pipeline}" exists already: delete it first to define it anew (its runs are kept)`);
    this.pipeline = pipeline;
  }
}

/** No pipeline run has this ID. */
export class PipelineRunNotFoundError extends GpuqError {
  readonly runId: number;
  constructor(runId: number) {
    super('PIPELINE_RUN_NOT_FOUND', `pipeline run ${runId} not found: \`gpuq pipeline runs\` lists the runs`);
    this.runId = runId;
  }
}

/** No trigger has this name (never created, or deleted). */
export class TriggerNotFoundError extends GpuqError {
  readonly trigger: string;
  constructor(trigger: string) {
    super('TRIGGER_NOT_FOUND', `trigger "${trigger}" not found: \`gpuq trigger ls\` lists the triggers`);
    this.trigger = trigger;
  }
}

/** A trigger of this name exists already. Nothing changed. */
export class TriggerExistsError extends GpuqError {
  readonly trigger: string;
  constructor(trigger: string) {
    super('TRIGGER_EXISTS', `a trigger named "${trigger}" exists already: delete it first to define it anew`);
    this.trigger = trigger;
  }
}

/** A trigger's claimed file already has its run (another server started it). Nothing was stored. */
export class ClaimTakenError extends GpuqError {
  constructor(claim: number) {
    super('CLAIM_TAKEN', `claim ${claim} already has its run`);
  }
}

/** No schedule has this name (never created, or deleted). */
export class ScheduleNotFoundError extends GpuqError {
  readonly schedule: string;
  constructor(schedule: string) {
    super('SCHEDULE_NOT_FOUND', `schedule "${schedule}" not found: \`gpuq schedule ls\` lists the schedules`);
    this.schedule = schedule;
  }
}

/** A schedule of this name exists already. Nothing changed. */
export class ScheduleExistsError extends GpuqError {
  readonly schedule: string;
  constructor(schedule: string) {
    super('SCHEDULE_EXISTS', `a schedule named "${schedule}" exists already: delete it first to define it anew`);
    this.schedule = schedule;
  }
}

/** A schedule's fire already has its pipeline run (a leader before this one started it). Nothing was stored. */
export class FireTakenError extends GpuqError {
  readonly schedule: string;
  readonly fireAt: number;
  constructor(schedule: string, fireAt: number) {
    super('FIRE_TAKEN', `schedule "${schedule}" already fired at ${new Date(fireAt).toISOString()}`);
    this.schedule = schedule;
    this.fireAt = fireAt;
  }
}

/** The pool is stopped: it takes no new tasks until started again. Nothing was stored. */
export class PoolStoppedError extends GpuqError {
  readonly pool: string;
  constructor(pool: string) {
    super('POOL_STOPPED', `pool "${pool}" is stopped and takes no new tasks: start it with \`gpuq pool start ${pool}\` (its queued tasks wait for it)`);
    this.pool = pool;
  }
}

/** The pool has no task with this ID (never submitted, or retention purged it). */
export class TaskNotFoundError extends GpuqError {
  readonly pool: string;
  readonly taskId: number;
  constructor(pool: string, taskId: number) {
    super('TASK_NOT_FOUND', `pool "${pool}" has no task ${taskId}`);
    this.pool = pool;
    this.taskId = taskId;
  }
}

/**
 * A replica host spoke for a replica attempt that is no longer live (evicted, reclaimed, replaced), or with a
 * credential that is not that attempt's. It must stop its worker and exit; its tasks are redelivered.
 */
export class ReplicaGoneError extends GpuqError {
  readonly jobId: number;
  constructor(jobId: number, detail: string) {
    super('REPLICA_GONE', `replica ${jobId}: ${detail}; its worker must stop (its tasks are redelivered)`);
    this.jobId = jobId;
  }
}
