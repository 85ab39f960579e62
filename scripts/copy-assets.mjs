#!/usr/bin/env node
// Copies the non-TypeScript files the compiled code loads at run time (every
// `*.sql` and `*.cu` under src/: the store's migrations, the CUDA risk engine) to the same relative path
// under dist/, and compiles the TypeScript pool worker example (examples/pools/tsconfig.json) into
// dist/examples/pools/, since Node 20 cannot run TypeScript. Run by `npm run build` after tsc.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');
const distDir = join(root, 'dist');
const ASSET = /\.(sql|cu)$/;

/** @param {string} dir @returns {string[]} */
function assetsUnder(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return assetsUnder(path);
    return entry.isFile() && ASSET.test(entry.name) ? [path] : [];
  });
}

const assets = assetsUnder(srcDir);
for (const from of assets) {
  const to = join(distDir, relative(srcDir, from));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}
process.stderr.write(`copy-assets: ${assets.length} file(s) copied from src/ to dist/\n`);

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'examples', 'pools', 'tsconfig.json')], { stdio: 'inherit' });
process.stderr.write('copy-assets: examples/pools/worker.ts compiled to dist/examples/pools/\n');
