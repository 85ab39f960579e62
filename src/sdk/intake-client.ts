/**
 * The broker intake calls of the API (ADR 0017): `GET /v1/intake` (intake.read) and `POST /v1/intake/pause|resume`
 * (intake.manage, audited). The types are the server's answer (control-plane/intake/intake-service.ts `IntakeView`),
 * written out here because the SDK does not import the server; test/dashboard-pipelines.test.ts checks at compile
 * time that the two stay the same.
 *
 * Used beside `GpuqClient` rather than in its class chain: `new IntakeApi(client).view()`. Errors: `GpuqApiError`
 * with the server's code; NOT_FOUND (404) when the server runs no broker intake (no `--intake-config`).
 */

/** What is paused: the emergency stop of every source, and sources paused one by one. */
export interface IntakePauses {
  /** The emergency stop: no source consumes, whatever its own pause. */
  all: boolean;
  /** Sources paused one by one, sorted by name. */
  sources: string[];
}

/** A broker source's state and counts (since this server started). */
export interface IntakeSourceStatus {
  name: string;
  kind: 'redis' | 'nats';
  /** `consuming`, `paused` (by its own pause, the emergency stop or drain), `standby` (this server does not lead), `error` (the broker is out of reach). */
  state: 'consuming' | 'paused' | 'standby' | 'error';
  /** Where it reads: the Redis stream or JetStream stream (and subject). */
  from: string;
  deadLetter: string;
  received: number;
  acked: number;
  deadLettered: number;
  /** Delivered, not yet acknowledged; null before the first reading. */
  pending: number | null;
  /** In the stream, not yet delivered; null before the first reading or where the broker does not say. */
  lag: number | null;
  lastError: string | null;
}

/** A result sink: where it publishes jobs' final states, and how far it got in the event feed. */
export interface IntakeSinkStatus {
  name: string;
  kind: 'redis' | 'nats';
  /** The Redis stream or NATS subject it publishes to. */
  to: string;
  /** `intake`: only jobs that came from a source; `all`: every job. */
  jobs: 'intake' | 'all';
  /** Messages published since this server started. */
  published: number;
  /** The last feed id it published; null until it has read its cursor. */
  cursor: number | null;
  lastError: string | null;
  /** Whether it runs on this server (only the leader's do). */
  running: boolean;
}

/** GET /v1/intake. */
export interface IntakeView {
  paused: IntakePauses;
  /** Drain (maintenance mode) stops every source too, while it lasts. */
  draining: boolean;
  /** Whether this server leads: only the leader's sources and sinks run. */
  leader: boolean;
  sources: IntakeSourceStatus[];
  sinks: IntakeSinkStatus[];
}

/** The one transport call the intake calls need (what `GpuqClient.request` is). */
export interface ApiRequester {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export class IntakeApi {
  constructor(private readonly api: ApiRequester) {}

  /** The sources and sinks with their state and counts, and what is paused. */
  async view(): Promise<IntakeView> {
    return this.api.request('GET', '/v1/intake');
  }

  /**
   * Pauses (or resumes) the named sources, or every source with 'all': pausing 'all' is the emergency stop;
   * resuming 'all' clears it and every source's own pause. Durable (in the store) and audited. Answers what is
   * paused after the change.
   */
  async setPaused(target: string[] | 'all', paused: boolean): Promise<{ paused: IntakePauses }> {
    return this.api.request('POST', `/v1/intake/${paused ? 'pause' : 'resume'}`, target === 'all' ? { all: true } : { sources: target });
  }
}
