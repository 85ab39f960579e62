import { useEffect, useState } from 'preact/hooks';

/**
 * Pages are paths under /ui/ (/ui/jobs, /ui/jobs/42?attempt=2): the server answers index.html for each, and
 * the browser's history moves between them without reloading. A page's filters live in its query string, so
 * a reload or a shared link shows the same view.
 */

export const BASE = '/ui';

export interface Location {
  /** The path below /ui, starting with "/" ("/" for the overview). */
  path: string;
  query: URLSearchParams;
}

const listeners = new Set<() => void>();

function current(): Location {
  const p = window.location.pathname;
  const path = p.startsWith(`${BASE}/`) ? p.slice(BASE.length) : '/';
  return { path: path === '' ? '/' : path, query: new URLSearchParams(window.location.search) };
}

window.addEventListener('popstate', () => {
  for (const l of listeners) l();
});

/** Goes to a page of the dashboard (a path below /ui, with its query); `replace` keeps no history entry. */
export function navigate(to: string, replace = false): void {
  const url = `${BASE}${to.startsWith('/') ? to : `/${to}`}`;
  if (url === window.location.pathname + window.location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const l of listeners) l();
  if (!replace) window.scrollTo(0, 0);
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const l = () => setLoc(current());
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return loc;
}

/** The href of a page (for links that open in a new tab too). */
export function href(to: string): string {
  return `${BASE}${to}`;
}

/** A click on a link to a page: handled here unless the user asked for a new tab or window. */
export function onLinkClick(e: MouseEvent, to: string): void {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(to);
}
