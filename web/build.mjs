#!/usr/bin/env node
// Builds the web dashboard (web/src) into dist/web/: one JavaScript bundle and one stylesheet, each named by
// a hash of its content (served with a year-long cache by src/control-plane/routes/ui.ts), and index.html
// referring to them. Run by `npm run build`; nothing is fetched, at build time or at run time.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, '..', 'dist', 'web');

rmSync(out, { recursive: true, force: true });
const result = await build({
  entryPoints: { app: path.join(here, 'src', 'main.tsx') },
  outdir: path.join(out, 'assets'),
  entryNames: '[name]-[hash]',
  bundle: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => path.relative(out, p).split(path.sep).join('/'));
const script = outputs.find((p) => /^assets\/app-[^/]+\.js$/.test(p));
const style = outputs.find((p) => /^assets\/app-[^/]+\.css$/.test(p));
if (!script || !style) throw new Error(`web build: expected an app-*.js and an app-*.css, got ${outputs.join(', ')}`);

// Absolute URLs: index.html is served at /ui/ and at every page under it (/ui/jobs/7).
const html = readFileSync(path.join(here, 'index.html'), 'utf8')
  .replace('<!--gpuq:styles-->', `<link rel="stylesheet" href="/ui/${style}">`)
  .replace('<!--gpuq:scripts-->', `<script type="module" src="/ui/${script}"></script>`);
writeFileSync(path.join(out, 'index.html'), html);

const bytes = (p) => readFileSync(path.join(out, p)).length;
process.stderr.write(`web build: dist/web/${script} (${Math.round(bytes(script) / 1024)} kB), dist/web/${style} (${Math.round(bytes(style) / 1024)} kB)\n`);
