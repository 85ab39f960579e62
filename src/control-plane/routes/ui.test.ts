import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { toHttpError } from '../http-errors.js';
import { loadSite, serveSite } from './ui.js';

/** The dashboard's static files (routes/ui.ts) over a site built into a temporary folder, driven with inject(). */

const root = mkdtempSync(path.join(os.tmpdir(), 'gpuq-ui-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(path.join(root, 'assets'));
const INDEX = '<!doctype html><title>gpuq</title><script type="module" src="/ui/assets/app-ABC123.js"></script>';
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(5000))});`;
writeFileSync(path.join(root, 'index.html'), INDEX);
writeFileSync(path.join(root, 'assets', 'app-ABC123.js'), SCRIPT);
writeFileSync(path.join(root, 'assets', 'app-ABC123.css'), 'body{}');

async function app(dir: string) {
  const a = Fastify();
  a.setErrorHandler((err, _req, reply) => {
    const { status, body } = toHttpError(err);
    void reply.code(status).send(body);
  });
  serveSite(a, loadSite(dir));
  await a.ready();
  return a;
}

describe('the dashboard\'s static files', () => {
  it('redirects / and /ui to /ui/, and answers index.html there and for every page path', async () => {
    const a = await app(root);
    for (const url of ['/', '/ui']) {
      const r = await a.inject({ url });
      expect(r.statusCode).toBe(302);
      expect(r.headers.location).toBe('/ui/');
    }
    for (const url of ['/ui/', '/ui/jobs', '/ui/jobs/42', '/ui/dlq?queue=etl']) {
      const r = await a.inject({ url });
      expect(r.statusCode, url).toBe(200);
      expect(r.body).toBe(INDEX);
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-security-policy']).toContain("default-src 'none'");
    }
  });

  it('serves hashed assets with their type, a year-long cache, and gzip when asked', async () => {
    const a = await app(root);
    const plain = await a.inject({ url: '/ui/assets/app-ABC123.js' });
    expect(plain.statusCode).toBe(200);
    expect(plain.body).toBe(SCRIPT);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    const gz = await a.inject({ url: '/ui/assets/app-ABC123.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.rawPayload).toString()).toBe(SCRIPT);
    expect((await a.inject({ url: '/ui/assets/app-ABC123.css' })).headers['content-type']).toBe('text/css; charset=utf-8');
  });

  it('answers 304 to a matching If-None-Match, and 404 for a file that is not there', async () => {
    const a = await app(root);
    const first = await a.inject({ url: '/ui/' });
    expect((await a.inject({ url: '/ui/', headers: { 'if-none-match': String(first.headers.etag) } })).statusCode).toBe(304);
    const missing = await a.inject({ url: '/ui/assets/app-GONE.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.message).toBe('no dashboard file /ui/assets/app-GONE.js');
    expect((await a.inject({ url: '/ui/../package.json' })).statusCode).not.toBe(200);
  });

  it('says how to build the dashboard when it was not built', async () => {
    const a = await app(path.join(root, 'not-there'));
    const r = await a.inject({ url: '/ui/' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error.message).toContain('npm run build');
  });
});
