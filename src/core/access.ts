/**
 * Who may do what: roles, the actions the API guards, and `can(role, action)`.
 * Pure policy, no I/O: the HTTP layer (control-plane/auth.ts) resolves a bearer
 * token to a role and asks here; the store keeps tokens hashed.
 *
 * The human roles are nested, each holding every action of the one before:
 *   viewer ⊂ submitter ⊂ operator ⊂ admin
 *   viewer     reads: jobs, logs, the DLQ, nodes, pools and their tasks, broker intake, pipelines and their runs, the
 *              maintenance mode, health and metrics
 *   submitter  + submits jobs, pool tasks and pipeline runs, and cancels the jobs it owns
 *   operator   + cancels any job or a whole queue, DLQ replay and purge, node and
 *                maintenance control, pools (create, update, stop, evict, delete), broker intake pause and resume, pipelines (create, delete),
 *                reads the audit log
 *   admin      + manages API tokens
 * `agent` stands apart: it holds only the agent actions (the endpoints remote
 * agents will call in cluster mode), and no human action, so a token copied off
 * a GPU node cannot read jobs or drain the cluster.
 */

export const ROLES = ['admin', 'operator', 'submitter', 'viewer', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export const ACTIONS = [
  'jobs.read',
  'jobs.submit',
  'jobs.cancel.own',
  'jobs.cancel.any',
  'queue.cancel',
  'dlq.read',
  'dlq.replay',
  'dlq.purge',
  'nodes.read',
  'nodes.manage',
  'control.read',
  'control.maintenance',
  'system.read',
  'audit.read',
  'tokens.manage',
  'pools.read',
  'pools.submit',
  'pools.manage',
  'intake.read',
  'intake.manage',
  'pipelines.read',
  'pipelines.run',
  'pipelines.manage',
  'agent.register',
  'agent.heartbeat',
  'agent.report',
] as const;
export type Action = (typeof ACTIONS)[number];

/** What each nested role adds to the one below it. */
const VIEWER: readonly Action[] = ['jobs.read', 'dlq.read', 'nodes.read', 'control.read', 'system.read', 'pools.read', 'intake.read', 'pipelines.read'];
const SUBMITTER: readonly Action[] = [...VIEWER, 'jobs.submit', 'jobs.cancel.own', 'pools.submit', 'pipelines.run'];
const OPERATOR: readonly Action[] = [...SUBMITTER, 'jobs.cancel.any', 'queue.cancel', 'dlq.replay', 'dlq.purge', 'nodes.manage', 'control.maintenance', 'audit.read', 'pools.manage', 'intake.manage', 'pipelines.manage'];
const ADMIN: readonly Action[] = [...OPERATOR, 'tokens.manage'];
const AGENT: readonly Action[] = ['agent.register', 'agent.heartbeat', 'agent.report'];

const GRANTS: Readonly<Record<Role, ReadonlySet<Action>>> = Object.freeze({
  admin: new Set(ADMIN),
  operator: new Set(OPERATOR),
  submitter: new Set(SUBMITTER),
  viewer: new Set(VIEWER),
  agent: new Set(AGENT),
});

export function can(role: Role, action: Action): boolean {
  return GRANTS[role].has(action);
}

/** The roles that may do `action`, most limited first: what a refusal tells the caller to ask for. */
export function rolesThatCan(action: Action): Role[] {
  const order: Role[] = ['agent', 'viewer', 'submitter', 'operator', 'admin'];
  return order.filter((r) => can(r, action));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/**
 * Who is calling. With auth on, a live API token; with auth off (the loopback
 * default), `local`: anyone who can reach 127.0.0.1 may do everything, as any
 * local user could also read the data directory.
 */
export type Principal = { kind: 'token'; tokenId: string; name: string; role: Role } | { kind: 'local' };

export const LOCAL_PRINCIPAL: Principal = Object.freeze({ kind: 'local' });

export function allows(principal: Principal, action: Action): boolean {
  return principal.kind === 'local' || can(principal.role, action);
}

/** Who owns what a principal submits: the token's id (what ownership is checked by) and its name (what people read). */
export interface JobOwner {
  tokenId: string;
  name: string;
}

export function ownerOf(principal: Principal): JobOwner | null {
  return principal.kind === 'token' ? { tokenId: principal.tokenId, name: principal.name } : null;
}

/**
 * Whether cancelling a job owned by `ownerTokenId` is cancelling one's own job.
 * Ownership is by token id, not name: a name freed by a revoke and given to a
 * new token does not inherit the old token's jobs. A job submitted with auth
 * off (no owner) belongs to `local` alone; to a token it is someone else's.
 */
export function ownsJob(principal: Principal, ownerTokenId: string | null): boolean {
  return principal.kind === 'local' ? ownerTokenId === null : ownerTokenId === principal.tokenId;
}

/** The action cancelling one job needs: `jobs.cancel.own` for one's own, `jobs.cancel.any` for anyone else's. */
export function cancelAction(principal: Principal, ownerTokenId: string | null): Action {
  return ownsJob(principal, ownerTokenId) ? 'jobs.cancel.own' : 'jobs.cancel.any';
}

/** An API token as the store keeps it, without its hash (which never leaves the store) or its plaintext (shown once, at creation). */
export interface ApiToken {
  /** Public id, `tok_` and 16 hex digits: what `gpuq token revoke` takes and the audit log names. */
  id: string;
  /** Unique among live tokens; owned jobs and the audit log show it. */
  name: string;
  role: Role;
  createdAt: number;
  revokedAt: number | null;
  /** Updated at most once a minute (TOKEN_TOUCH_INTERVAL_MS). */
  lastUsedAt: number | null;
}

/** Token names: short, printable in a table, and never `local` (the audit log's name for auth-off callers). */
export const TOKEN_NAME = /^(?!local$)[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
export const TOKEN_NAME_RULE = '1-64 letters, digits and . _ @ -, starting with a letter or digit, and not "local"';

/** last_used_at is written at most this often per token, so a busy client costs no write per request. */
export const TOKEN_TOUCH_INTERVAL_MS = 60_000;

export function shouldTouchToken(lastUsedAt: number | null, now: number): boolean {
  return lastUsedAt === null || now - lastUsedAt >= TOKEN_TOUCH_INTERVAL_MS;
}

// ── the audit log ──────────────────────────────────────────────────────────

/**
 * Operator actions, each written to the audit log with its outcome. Names
 * follow the access actions they exercise; token management (tokens.manage)
 * is split in its two writes, node management (nodes.manage) in its three and
 * pool management (pools.manage) in its eight, intake management (intake.manage) in pause and resume,
 * pipeline management (pipelines.manage) in create and delete, in its triggers' create, delete, pause, resume and retry,
 * and in its schedules' create, delete, pause and resume,
 * so the log reads as what happened.
 */
export const AUDIT_ACTIONS = [
  'control.maintenance',
  'queue.cancel',
  'jobs.cancel.any',
  'dlq.replay',
  'dlq.purge',
  'tokens.create',
  'tokens.revoke',
  'nodes.cordon',
  'nodes.drain',
  'nodes.uncordon',
  'pools.create',
  'pools.update',
  'pools.stop',
  'pools.start',
  'pools.evict',
  'pools.stop-all',
  'pools.delete',
  'pools.replay',
  'intake.pause',
  'intake.resume',
  'pipelines.create',
  'pipelines.delete',
  'triggers.create',
  'triggers.delete',
  'triggers.pause',
  'triggers.resume',
  'triggers.retry',
  'schedules.create',
  'schedules.delete',
  'schedules.pause',
  'schedules.resume',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditOutcome = 'ok' | 'denied' | 'failed';

/** One operator action as the audit log records it (the store adds `id`). */
export interface AuditRecord {
  at: number;
  /** The token's name, or `local` when auth is off (or for a token created directly in the database). */
  actor: string;
  actorTokenId: string | null;
  /** The actor's role; null for `local`, which auth off lets do everything. */
  role: Role | null;
  action: AuditAction;
  /** What it acted on: "drain", "queue sweep", "job 42", "token ci-bot". */
  target: string;
  outcome: AuditOutcome;
  detail: string | null;
}

export interface AuditEntry extends AuditRecord {
  id: number;
}

/** The audit fields that name the actor. */
export function auditActor(principal: Principal): Pick<AuditRecord, 'actor' | 'actorTokenId' | 'role'> {
  return principal.kind === 'token' ? { actor: principal.name, actorTokenId: principal.tokenId, role: principal.role } : { actor: 'local', actorTokenId: null, role: null };
}
