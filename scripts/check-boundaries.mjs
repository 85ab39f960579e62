#!/usr/bin/env node
// Keeps the architecture's boundaries: core/ is pure, SQL lives only in store/,
// each database driver is imported only by its own store, the environment is
// read only in config.ts, and there are no import cycles.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'src');
const files = [];
(function walk(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.ts')) files.push(p);
  }
})(root);

const problems = [];
// A database driver (and its subpaths) may be imported only by the store built on it.
const DRIVERS = [
  { pattern: /^better-sqlite3(\/|$)/, home: 'store/sqlite/' },
  { pattern: /^(pg|pg-[a-z-]+)(\/|$)/, home: 'store/postgres/' },
];
const rel = (f) => path.relative(root, f);
const importsOf = (text) => [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
const graph = new Map();

for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const r = rel(f);
  const imports = importsOf(text);
  const isTest = r.endsWith('.test.ts');
  if (r.startsWith('core/') && !isTest) {
    for (const i of imports) {
      if (i.startsWith('node:') || /^(fastify|better-sqlite3|pg|pino|prom-client|commander)$/.test(i)) problems.push(`${r}: core/ must stay pure but imports "${i}"`);
      if (i.startsWith('.') && !path.resolve(path.dirname(f), i).startsWith(path.join(root, 'core'))) problems.push(`${r}: core/ imports outside core/: "${i}"`);
    }
  }
  // The risk model is pure math; only the CPU engine's thread plumbing touches node:* (ADR 0009).
  if (r.startsWith('risk/') && !r.startsWith('risk/cuda/') && !isTest && !/^risk\/cpu-(engine|worker)\.ts$/.test(r)) {
    for (const i of imports) if (i.startsWith('node:')) problems.push(`${r}: risk/ math must stay pure (node:* only in cpu-engine.ts and cpu-worker.ts) but imports "${i}"`);
  }
  // The CUDA engine (ADR 0010): node:* only where it builds the binary, runs it, and reads the environment's
  // defaults; the Philox reference and the file formats stay pure, testable without a GPU or nvcc.
  if (r.startsWith('risk/cuda/') && !isTest && !/^risk\/cuda\/cuda-(build|engine|environment)\.ts$/.test(r)) {
    for (const i of imports) if (i.startsWith('node:')) problems.push(`${r}: risk/cuda/ must stay pure outside cuda-build.ts, cuda-engine.ts and cuda-environment.ts but imports "${i}"`);
  }
  for (const i of imports) {
    const driver = DRIVERS.find((d) => d.pattern.test(i));
    if (driver && !r.startsWith(driver.home)) problems.push(`${r}: imports the database driver "${i}", which only src/${driver.home} may use`);
  }
  if (!r.startsWith('store/') && !isTest && /\b(SELECT\s+[\w*]|INSERT\s+INTO|DELETE\s+FROM|CREATE\s+TABLE)\b/.test(text)) problems.push(`${r}: SQL outside store/`);
  if (r !== 'config.ts' && !isTest && /process\.env\b/.test(text) && !/gpuq-allow-env/.test(text)) problems.push(`${r}: reads process.env; only config.ts may (or mark the line's file with a gpuq-allow-env comment saying why)`);
  graph.set(f, imports.filter((i) => i.startsWith('.')).map((i) => path.resolve(path.dirname(f), i).replace(/\.js$/, '.ts')));
}

// The web dashboard (web/src, ADR 0013) runs in a browser: Preact, its own modules, and only the pure parts of the
// server's code it shares (core/ and the SDK), never node:* or the server's modules.
const webRoot = path.resolve(root, '..', 'web', 'src');
(function walkWeb(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walkWeb(p);
    else if (/\.tsx?$/.test(e.name)) {
      const r = path.relative(path.resolve(root, '..'), p);
      for (const i of importsOf(readFileSync(p, 'utf8'))) {
        if (!i.startsWith('.')) {
          if (!/^preact(\/hooks)?$/.test(i) && !i.endsWith('.css')) problems.push(`${r}: the dashboard imports "${i}"; it may import preact only`);
          continue;
        }
        const target = path.resolve(path.dirname(p), i);
        const ok = target.startsWith(webRoot) || target.startsWith(path.join(root, 'core')) || target.startsWith(path.join(root, 'sdk'));
        if (!ok) problems.push(`${r}: the dashboard imports "${i}"; of the server's code it may import src/core/ and src/sdk/ only`);
      }
    }
  }
})(webRoot);

// Import cycles (type-only imports count too: they tangle modules all the same).
const state = new Map();
const stack = [];
function visit(f) {
  state.set(f, 1);
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (!graph.has(d)) continue;
    if (state.get(d) === 1) problems.push(`import cycle: ${[...stack.slice(stack.indexOf(d)), d].map(rel).join(' → ')}`);
    else if (!state.has(d)) visit(d);
  }
  stack.pop();
  state.set(f, 2);
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

if (problems.length) {
  console.error(`boundary check failed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`boundary check: ${files.length} files, core pure, the dashboard on core/ and the SDK only, SQL only in store/, drivers only in their store, env only in config.ts, no import cycles`);
