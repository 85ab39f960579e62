import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AgentControl, WorkBatch } from '../agent/agent-link.js';
import type { Clock } from '../core/clock.js';
import { AgentSessionExpiredError } from '../core/errors.js';
import type { AssignedAttempt } from '../store/store.js';

type Message = { seq: number; run: AssignedAttempt } | { seq: number; cancel: { attemptId: number; reason: string } };

/** A session is idle (and detached) when nobody has polled it for this many times its last poll's wait. */
const IDLE_POLLS = 3;
/** ...but never sooner than this, so a short wait does not make a session fragile. */
const MIN_IDLE_MS = 10_000;

/**
 * A remote agent (`gpuq agent`) as this server sees it: an AgentControl whose
 * `run` and `cancel` calls, made by the node's AgentFeed, are queued and
 * handed to the agent when it long-polls (GET /v1/agents/:nodeId/work).
 *
 * Delivery is at least once. Every message has a sequence number and stays
 * queued until the agent acknowledges it (`ack`, on its next poll), so an
 * answer lost on the way (a cut connection, an agent paused mid-read) is
 * handed out again; the agent drops repeats by attempt id. The feed itself
 * hands each attempt over once per session, and a new session's feed rereads
 * the node's work from the store, so nothing depends on this queue surviving
 * a restart of the server.
 */
export class RemoteAgentSession implements AgentControl {
  readonly id = randomBytes(12).toString('hex');
  private queue: Message[] = [];
  private seq = 0;
  /** Resolves the poll waiting for messages, if one is. */
  private wake: (() => void) | null = null;
  private polling = 0;
  private lastSeenAt: number;
  private idleAfterMs = MIN_IDLE_MS;
  private closed = false;
  /** Set on the first poll: the session is attached to the control plane (its feed started) then, not at registration. */
  attaching: Promise<void> | null = null;

  constructor(
    readonly nodeId: string,
    private readonly clock: Clock,
  ) {
    this.lastSeenAt = clock.now();
  }

  run(attempts: AssignedAttempt[]): void {
    for (const a of attempts) this.queue.push({ seq: ++this.seq, run: a });
    this.wake?.();
  }

  cancel(attemptIds: number[], reason: string): void {
    for (const attemptId of attemptIds) this.queue.push({ seq: ++this.seq, cancel: { attemptId, reason } });
    this.wake?.();
  }

  /**
   * Drops the messages up to `ack` (the agent has them), then answers with
   * everything still queued: at once when there is something, else when
   * something arrives or `waitMs` has passed. A newer poll ends one still
   * waiting (its connection is most likely gone), which answers what it has.
   */
  async poll(ack: number | undefined, waitMs: number): Promise<WorkBatch> {
    if (ack !== undefined) this.queue = this.queue.filter((m) => m.seq > ack);
    this.polling++;
    this.lastSeenAt = this.clock.now();
    this.idleAfterMs = Math.max(MIN_IDLE_MS, IDLE_POLLS * waitMs);
    try {
      if (this.queue.length === 0 && waitMs > 0 && !this.closed) {
        this.wake?.();
        await new Promise<void>((resolve) => {
          const done = (): void => {
            clearTimeout(timer);
            if (this.wake === done) this.wake = null;
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          this.wake = done;
        });
      }
      return this.batch();
    } finally {
      this.polling--;
      this.lastSeenAt = this.clock.now();
    }
  }

  /** No poll in progress, and none for a while: the agent is gone (or cut off) and the session can go. */
  isIdle(now: number): boolean {
    return this.polling === 0 && now - this.lastSeenAt > this.idleAfterMs;
  }

  /** Ends a waiting poll; later calls queue nothing anyone will fetch. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  private batch(): WorkBatch {
    const out: WorkBatch = { seq: this.seq, run: [], cancel: [] };
    for (const m of this.queue) {
      if ('run' in m) out.run.push(m.run);
      else out.cancel.push(m.cancel);
    }
    return out;
  }
}

/** What the sessions need of the control plane: attaching an agent to its node's feed, and detaching it. */
export interface AgentAttachment {
  attachAgent(agent: AgentControl): Promise<void>;
  detachAgent(agent: AgentControl): void;
}

/**
 * The remote agents' sessions on this server, one per node: a registration
 * opens one (replacing the node's previous session), the first poll attaches
 * it to the control plane, and a session nobody polls any more is detached by
 * a periodic sweep. Sessions live in this server's memory only: an agent whose
 * server restarted, or that turns to another server, gets
 * AGENT_SESSION_EXPIRED on its next poll and registers again.
 */
export class RemoteAgentSessions {
  private readonly byNode = new Map<string, RemoteAgentSession>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly controlPlane: AgentAttachment,
    private readonly clock: Clock,
    private readonly log: Pick<Logger, 'info'>,
    sweepEveryMs = 5000,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepEveryMs);
    this.timer.unref();
  }

  /** A new session for the node; the one it had is closed and detached. */
  open(nodeId: string): RemoteAgentSession {
    const old = this.byNode.get(nodeId);
    if (old) this.end(old, 'replaced by a new registration');
    const session = new RemoteAgentSession(nodeId, this.clock);
    this.byNode.set(nodeId, session);
    return session;
  }

  /** Polls the node's session `sessionId`, attaching it first if this is its first poll. */
  async poll(nodeId: string, sessionId: string, ack: number | undefined, waitMs: number): Promise<WorkBatch> {
    const session = this.byNode.get(nodeId);
    if (!session || session.id !== sessionId) throw new AgentSessionExpiredError(nodeId);
    session.attaching ??= this.controlPlane.attachAgent(session).then(
      () => {
        // Replaced or swept while its feed was starting: the feed must not live on.
        if (this.byNode.get(nodeId) !== session) this.controlPlane.detachAgent(session);
      },
      (err: unknown) => {
        session.attaching = null;
        throw err;
      },
    );
    await session.attaching;
    return session.poll(ack, waitMs);
  }

  /** Detaches sessions whose agent stopped polling. */
  sweep(): void {
    const now = this.clock.now();
    for (const s of this.byNode.values()) if (s.isIdle(now)) this.end(s, 'not polled for too long');
  }

  /** Ends every session (the server is stopping): waiting polls answer at once. */
  close(): void {
    clearInterval(this.timer);
    for (const s of this.byNode.values()) this.end(s, 'server stopping');
  }

  get size(): number {
    return this.byNode.size;
  }

  private end(s: RemoteAgentSession, why: string): void {
    s.close();
    this.controlPlane.detachAgent(s);
    if (this.byNode.get(s.nodeId) === s) this.byNode.delete(s.nodeId);
    this.log.info({ nodeId: s.nodeId, why }, 'remote agent session ended');
  }
}
