import { useState } from 'preact/hooks';

/**
 * With auth on: asks for an API token (`gpuq token create --role viewer --name …`). It is checked with
 * GET /v1/whoami and kept in sessionStorage for this browser session only.
 */
export function LoginPage(props: { note: string | null; onToken: (token: string) => Promise<boolean> }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (!(await props.onToken(token.trim()))) setError('The server refused this token: check it, or ask an admin for one (gpuq token create).');
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login">
      <form class="panel login-form" onSubmit={(e) => void submit(e)} data-testid="login-form">
        <h1>gpuq</h1>
        <p>This server requires an API token. It is kept in this browser tab's session storage and sent only to this server.</p>
        {props.note ? <p class="error-note">{props.note}</p> : null}
        <label>
          API token
          <input type="password" name="token" autocomplete="off" placeholder="gpuq_…" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} data-testid="token-input" required />
        </label>
        {error ? (
          <p class="error-note" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" class="btn primary" disabled={busy || token.trim() === ''} data-testid="sign-in">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p class="hint">
          An admin creates tokens with <code>gpuq token create --role viewer --name you</code>.
        </p>
      </form>
    </div>
  );
}
