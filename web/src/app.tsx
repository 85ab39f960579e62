import { useEffect, useMemo, useState } from 'preact/hooks';
import type { WhoAmI } from '../../src/core/whoami.js';
import { DashboardClient } from './api.js';
import { Link, Notices } from './components.js';
import { LiveFeed } from './event-stream.js';
import { useLiveStatus, useRefetchOn, useResource } from './hooks.js';
import { DlqPage } from './pages/dlq.js';
import { IntakePage } from './pages/intake.js';
import { JobPage } from './pages/job.js';
import { JobsPage } from './pages/jobs.js';
import { LoginPage } from './pages/login.js';
import { MaintenancePage } from './pages/maintenance.js';
import { NodesPage } from './pages/nodes.js';
import { OverviewPage } from './pages/overview.js';
import { PipelineRunPage } from './pages/pipeline-run.js';
import { PipelinesPage } from './pages/pipelines.js';
import { PoolPage } from './pages/pool.js';
import { PoolsPage } from './pages/pools.js';
import { TriggersPage } from './pages/triggers.js';
import { useLocation } from './router.js';
import { askWhoAmI, SessionContext, storedToken, storeToken, useSession, type Session } from './session.js';

/** Asked as soon as the script runs, before the first render: every page waits for it. */
const firstToken = storedToken();
const firstAnswer = askWhoAmI(firstToken);

type Boot = { kind: 'checking' } | { kind: 'login'; note: string | null } | { kind: 'in'; session: Session } | { kind: 'failed'; message: string };

/** Signs in (or finds auth off), then shows the pages; a refused token sends the user back to the login form. */
export function App() {
  const [boot, setBoot] = useState<Boot>({ kind: 'checking' });

  const enter = (token: string | null, me: WhoAmI) => {
    // Once over, a session stays over: a late 401 of its requests must not end the next one.
    let over = false;
    const out = (note: string | null) => {
      if (over) return;
      over = true;
      live.stop();
      storeToken(null);
      setBoot({ kind: 'login', note });
    };
    const expired = () => out('The server refused the token (revoked, or not known to this server): sign in again.');
    const client = new DashboardClient(token, expired);
    const live = new LiveFeed({ headers: () => client.headers(), onUnauthorized: expired });
    live.start();
    setBoot({ kind: 'in', session: { me, client, live, signOut: () => out(null) } });
  };

  useEffect(() => {
    const token = firstToken;
    firstAnswer
      .then((me) => (me ? enter(token, me) : setBoot({ kind: 'login', note: token === null ? null : 'The saved token was refused: sign in again.' })))
      .catch((e: unknown) => setBoot({ kind: 'failed', message: e instanceof Error ? e.message : String(e) }));
  }, []);

  if (boot.kind === 'checking') return <p class="boot">Connecting to gpuq…</p>;
  if (boot.kind === 'failed') return <p class="boot error-note">Cannot reach the gpuq API: {boot.message}</p>;
  if (boot.kind === 'login')
    return (
      <LoginPage
        note={boot.note}
        onToken={async (token) => {
          const me = await askWhoAmI(token);
          if (!me) return false;
          storeToken(token);
          enter(token, me);
          return true;
        }}
      />
    );
  return (
    <SessionContext.Provider value={boot.session}>
      <Shell />
    </SessionContext.Provider>
  );
}

const NAV = [
  { to: '/', label: 'Overview' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/dlq', label: 'DLQ' },
  { to: '/nodes', label: 'Nodes' },
  { to: '/pools', label: 'Pools' },
  { to: '/pipelines', label: 'Pipelines' },
  { to: '/triggers', label: 'Triggers' },
  { to: '/intake', label: 'Intake' },
  { to: '/maintenance', label: 'Maintenance' },
];

function Shell() {
  const { path } = useLocation();
  const session = useSession();
  useEffect(() => () => session.live.stop(), [session]);
  const page = useMemo(() => route(path), [path]);
  const top = path === '/' ? '/' : `/${path.split('/')[1]}`;
  // A run's page sits under Pipelines in the navigation.
  const section = top === '/pipeline-runs' ? '/pipelines' : top;
  return (
    <div class="shell">
      <header class="top">
        <Link to="/" class="brand">
          gpuq
        </Link>
        <nav>
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} class={section === n.to ? 'active' : ''} testId={`nav-${n.label.toLowerCase()}`}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div class="top-right">
          <MaintenanceFlag />
          <LiveIndicator />
          <Who />
        </div>
      </header>
      <main>{page}</main>
      <Notices />
    </div>
  );
}

function route(path: string) {
  const job = /^\/jobs\/([1-9][0-9]*)\/?$/.exec(path);
  if (job) return <JobPage key={job[1]} id={Number(job[1])} />;
  // Pool names are lowercase letters, digits and "-" (core/pool-spec.ts); anything else is no page.
  const pool = /^\/pools\/([a-z0-9][a-z0-9-]{0,62})\/?$/.exec(path);
  if (pool) return <PoolPage key={pool[1]} name={pool[1]!} />;
  const run = /^\/pipeline-runs\/([1-9][0-9]*)\/?$/.exec(path);
  if (run) return <PipelineRunPage key={run[1]} id={Number(run[1])} />;
  switch (path.replace(/\/$/, '') || '/') {
    case '/':
      return <OverviewPage />;
    case '/jobs':
      return <JobsPage />;
    case '/dlq':
      return <DlqPage />;
    case '/nodes':
      return <NodesPage />;
    case '/pools':
      return <PoolsPage />;
    case '/pipelines':
      return <PipelinesPage />;
    case '/triggers':
      return <TriggersPage />;
    case '/intake':
      return <IntakePage />;
    case '/maintenance':
      return <MaintenancePage />;
    default:
      return (
        <section class="panel">
          <h2>No such page</h2>
          <p>
            <Link to="/">Back to the overview</Link>
          </p>
        </section>
      );
  }
}

function MaintenanceFlag() {
  const { client } = useSession();
  const mode = useResource(() => client.request<{ mode: string }>('GET', '/v1/control/maintenance'), []);
  useRefetchOn((e) => e.type === 'maintenance', mode.reload);
  if (mode.data?.mode !== 'drain') return null;
  return (
    <Link to="/maintenance" class="badge draining" testId="drain-flag" title="maintenance mode: new jobs are refused and nothing new starts">
      DRAINING
    </Link>
  );
}

function LiveIndicator() {
  const { status, problem } = useLiveStatus();
  const text = status === 'live' ? 'live' : status === 'stopped' ? 'offline' : status;
  return (
    <span class={`live live-${status}`} data-testid="live-status" data-status={status} title={problem ?? 'following GET /v1/events'}>
      ● {text}
    </span>
  );
}

function Who() {
  const { me, signOut } = useSession();
  return (
    <span class="who" data-testid="who">
      {me.auth === 'off' ? (
        <span title="the server runs with auth off: every local caller may do everything">local · auth off</span>
      ) : (
        <>
          <span>
            {me.name} · <b data-testid="role">{me.role}</b>
          </span>
          <button type="button" class="btn small" onClick={signOut} data-testid="sign-out">
            Sign out
          </button>
        </>
      )}
    </span>
  );
}
