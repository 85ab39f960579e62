// Shared helpers for benchmarks: start a real `gpuq up`, time things, write results.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = path.join(ROOT, 'dist/cli/main.js');

/**
 * `--database-url URL` on a benchmark's command line runs every server on PostgreSQL instead of SQLite,
 * each in a fresh schema of that database (dropped when the server stops).
 */
const DATABASE_URL = process.argv.includes('--database-url') ? process.argv[process.argv.indexOf('--database-url') + 1] : undefined;
export const STORE = DATABASE_URL === undefined ? 'sqlite' : 'postgres';

async function freshSchema() {
  const { default: pg } = await import('pg');
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  const schema = `gpuq_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const url = `${DATABASE_URL}${DATABASE_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  return {
    url,
    async drop() {
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

export async function startGpuq(args = []) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'gpuq-bench-'));
  const schema = DATABASE_URL === undefined ? null : await freshSchema();
  const storeArgs = schema === null ? [] : ['--database-url', schema.url];
  const child = spawn(process.execPath, [CLI, 'up', '--json', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn', ...storeArgs, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line && out.includes('\n')) resolve(JSON.parse(line).url);
    });
    child.once('exit', (c) => reject(new Error(`gpuq up exited with ${c}`)));
  });
  return {
    url,
    pid: child.pid,
    dataDir,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await schema?.drop();
    },
  };
}

export async function api(url, method, p, body) {
  const res = await fetch(url + p, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Counts of jobs by state, from /health/detailed. */
export async function counts(url) {
  const d = await api(url, 'GET', '/health/detailed');
  const c = {};
  for (const r of d.jobs) c[r.state] = (c[r.state] ?? 0) + r.count;
  return c;
}

/** Waits until no job is queued, assigned or running (one cheap indexed query per poll). */
export async function waitIdle(url, everyMs = 10) {
  for (;;) {
    const r = await api(url, 'GET', '/v1/jobs?state=queued,assigned,running&limit=1');
    if (r.jobs.length === 0) return;
    await new Promise((res) => setTimeout(res, everyMs));
  }
}

export async function waitFor(url, pred, everyMs = 20) {
  for (;;) {
    const c = await counts(url);
    if (pred(c)) return c;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Peak resident memory of a process (VmHWM), MiB. */
export function peakRssMb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

export function machine() {
  return `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
}

export function printTable(rows) {
  const headers = Object.keys(rows[0]);
  const cells = [headers, ...rows.map((r) => headers.map((h) => String(r[h])))];
  const w = headers.map((_, i) => Math.max(...cells.map((c) => c[i].length)));
  const line = (c) => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`;
  const out = [line(cells[0]), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
  console.log(out);
  return out;
}

/** Writes results JSON under bench/results/ and replaces the marked section of docs/benchmarks.md. */
export function record(name, command, table, results) {
  const dir = path.join(ROOT, 'bench/results');
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString();
  const file = path.join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, at: stamp, machine: machine(), command, results }, null, 2));
  const doc = path.join(ROOT, 'docs/benchmarks.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const section = `${start}\nMeasured ${stamp.slice(0, 16).replace('T', ' ')} UTC on ${machine()} with \`${command}\`:\n\n${table}\n${end}`;
  let text = existsSync(doc) ? readFileSync(doc, 'utf8') : '# Benchmarks\n';
  text = text.includes(start) ? text.replace(new RegExp(`${start}[\\s\\S]*?${end}`), section) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(doc, text);
  console.log(`\nresults: ${path.relative(ROOT, file)}; docs/benchmarks.md updated`);
}
