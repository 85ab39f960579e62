import { GpuqApiError, GpuqClient } from '../../src/sdk/client.js';
import { IntakeApi } from '../../src/sdk/intake-client.js';

export { GpuqApiError };

/**
 * The dashboard's API client: the SDK's (what the CLI uses), on this page's origin, with the session's token.
 * A 401 anywhere ends the session (the token was revoked, or the server restarted with other tokens).
 */
export class DashboardClient extends GpuqClient {
  /** Broker intake (ADR 0017), through this client's requests (so a 401 ends the session there too). */
  readonly intake = new IntakeApi(this);

  constructor(
    private readonly bearer: string | null,
    private readonly onUnauthorized: (message: string) => void,
  ) {
    super(location.origin, bearer === null ? {} : { token: bearer });
  }

  override async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    try {
      return await super.request<T>(method, path, body);
    } catch (e) {
      if (e instanceof GpuqApiError && e.status === 401) this.onUnauthorized(e.message);
      throw e;
    }
  }

  /** Headers for requests the SDK has no method for (streams, downloads). */
  headers(): Record<string, string> {
    return this.bearer === null ? {} : { authorization: `Bearer ${this.bearer}` };
  }

  /** A GET whose body is read as a stream or a file: answers the response, or throws GpuqApiError. */
  async fetchRaw(path: string, signal?: AbortSignal): Promise<Response> {
    const res = await fetch(path, { headers: this.headers(), signal, cache: 'no-store' });
    if (res.ok) return res;
    let code = `HTTP_${res.status}`;
    let message = res.statusText;
    try {
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      /* not JSON */
    }
    if (res.status === 401) this.onUnauthorized(message);
    throw new GpuqApiError(res.status, code, message);
  }
}

/** What an error says to a person: the API's message and code, or the exception's message. */
export function describeError(e: unknown): string {
  if (e instanceof GpuqApiError) return `${e.message} [${e.code}]`;
  return e instanceof Error ? e.message : String(e);
}

/** Whether an error is the API saying the thing does not exist (or the route is not there yet). */
export function isNotFound(e: unknown): boolean {
  return e instanceof GpuqApiError && e.status === 404;
}
