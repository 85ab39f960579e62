import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GpuqError } from '../../core/errors.js';
import { requires } from '../auth.js';
import type { ServerContext } from '../server-context.js';

/**
 * The web dashboard (web/, built by `npm run build` into dist/web/): its static files under /ui/, and `/`
 * redirecting there. The files hold no data (every figure comes from the API, with the caller's token), so
 * they are public, like the OpenAPI document.
 *
 * The built folder is read once, when the server starts, into memory (with a gzip copy of what compresses):
 * a few hundred kB. Files under assets/ carry a content hash in their names, so they are cached for a year;
 * index.html is revalidated on every load (ETag). A path under /ui/ that names no file and has no extension
 * is a page of the dashboard (it routes in the browser), answered with index.html.
 */

/** Where `npm run build` puts the dashboard: dist/web beside dist/control-plane (or, run from src/, the built one). */
export function defaultWebRoot(): string {
  const besideDist = fileURLToPath(new URL('../../web/', import.meta.url));
  return existsSync(path.join(besideDist, 'index.html')) ? besideDist : fileURLToPath(new URL('../../../dist/web/', import.meta.url));
}

export interface SiteFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  cacheControl: string;
}

/** The dashboard's files by their path under /ui/ ("index.html", "assets/app-3F2K….js"); empty when it was not built. */
export type Site = ReadonlyMap<string, SiteFile>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = /^(text\/|application\/json|image\/svg)/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The page's own policy: scripts, styles and fetches from this server only (the dashboard loads nothing from
 * elsewhere, ever); no framing. Inline style attributes stay off too: the dashboard sets styles through the DOM.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Reads the built dashboard under `root` into memory; an absent folder gives an empty site. */
export function loadSite(root: string): Site {
  const files = new Map<string, SiteFile>();
  if (!existsSync(root)) return files;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && statSync(full).size > 0) {
        const rel = path.relative(root, full).split(path.sep).join('/');
        const type = TYPES[path.extname(entry.name).toLowerCase()] ?? 'application/octet-stream';
        const body = readFileSync(full);
        const gzip = COMPRESSIBLE.test(type) && body.length > 1024 ? gzipSync(body, { level: 9 }) : null;
        files.set(rel, {
          body,
          gzip: gzip !== null && gzip.length < body.length ? gzip : null,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
          cacheControl: rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
        });
      }
    }
  };
  walk(root);
  return files;
}

export function uiRoutes(app: FastifyInstance, _ctx: ServerContext): void {
  serveSite(app, loadSite(defaultWebRoot()));
}

/** Registers `/`, `/ui` and `/ui/*` over a loaded site. */
export function serveSite(app: FastifyInstance, site: Site): void {
  const toUi = async (_req: FastifyRequest, reply: FastifyReply) => reply.redirect('/ui/', 302);
  app.get('/', requires('public'), toUi);
  app.get('/ui', requires('public'), toUi);

  app.get('/ui/*', requires('public'), async (req, reply) => {
    const wanted = (req.params as { '*': string })['*'];
    const page = !/\.[A-Za-z0-9]+$/.test(wanted);
    const file = site.get(wanted) ?? (page ? site.get('index.html') : undefined);
    if (!file) {
      const message = site.size === 0 ? 'the dashboard is not built into this installation: run `npm run build` (it builds web/ into dist/web/)' : `no dashboard file /ui/${wanted}`;
      throw new GpuqError('NOT_FOUND', message);
    }
    void reply.headers({
      'content-type': file.type,
      'cache-control': file.cacheControl,
      etag: file.etag,
      vary: 'accept-encoding',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    if (file.type.startsWith('text/html')) void reply.header('content-security-policy', CSP);
    if (req.headers['if-none-match'] === file.etag) return reply.code(304).send();
    if (file.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      void reply.header('content-encoding', 'gzip');
      return reply.send(file.gzip);
    }
    return reply.send(file.body);
  });
}
