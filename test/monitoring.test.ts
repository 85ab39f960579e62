/**
 * monitoring/: the Prometheus alert rules (checked and unit-tested by the real promtool), their runbook
 * links into docs/operations.md, the Grafana dashboard, and that every metric the rules and the dashboard
 * name is one a real `gpuq up` exports on /metrics.
 *
 * promtool comes from Debian's `prometheus` package (or any Prometheus release on PATH). Where it is
 * missing the promtool checks are skipped, saying so, except in CI (CI=true), where they fail.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waitForJobs } from '../src/cli/commands/wait.js';
import { runCli, startGpuq, tempDir, type GpuqProcess } from './helpers/gpuq-process.js';
import { exportedFamilies, familyOf, headingAnchor, markdownAnchors, metricNames, sampleNames } from './helpers/promql.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALERTS_DIR = path.join(ROOT, 'monitoring/alerts');
const RULES = path.join(ALERTS_DIR, 'gpuq.rules.yml');
const RULE_TESTS = path.join(ALERTS_DIR, 'gpuq.rules.test.yml');
const DASHBOARD = path.join(ROOT, 'monitoring/grafana/gpuq.json');
const OPERATIONS = path.join(ROOT, 'docs/operations.md');

interface AlertRule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RuleFile { groups: { name: string; rules: AlertRule[] }[] }
interface RuleTestFile { rule_files: string[]; tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }
interface Target { expr?: string; datasource?: { type: string; uid: string } }
interface Panel { id: number; type: string; title: string; datasource?: { type: string; uid: string }; gridPos?: { x: number; y: number; w: number; h: number }; targets?: Target[]; panels?: Panel[] }
interface Dashboard {
  __inputs: { name: string; type: string; pluginId: string }[];
  __requires: { type: string; id: string }[];
  panels: Panel[];
  templating: { list: { name: string; datasource: { uid: string }; query: string | { query: string } }[] };
  uid: string;
  title: string;
}

const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
const alerts = rules.groups.flatMap((g) => g.rules);
const ruleTests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTestFile;
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
const panelExprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })));
const variableQueries = dashboard.templating.list.map((v) => ({ name: v.name, query: typeof v.query === 'string' ? v.query : v.query.query }));

/** promtool on PATH or where Debian's prometheus package puts it; null when there is none. */
function findPromtool(): string | null {
  for (const candidate of ['promtool', '/usr/bin/promtool']) {
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}
const promtool = findPromtool();
const inCi = process.env.CI === 'true';
const promtoolMissing = 'promtool not found: install Debian\'s `prometheus` package (apt-get install prometheus) or put a Prometheus release\'s promtool on PATH';
if (promtool === null && !inCi) console.warn(`test/monitoring.test.ts: skipping the promtool checks (${promtoolMissing})`);
const itPromtool = promtool === null && !inCi ? it.skip : it;

function runPromtool(args: string[], cwd: string): { status: number | null; output: string } {
  if (promtool === null) throw new Error(`${promtoolMissing}. CI=true: the alert rules must be checked, not skipped.`);
  const r = spawnSync(promtool, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Every metric name an alert or a panel selects, with where it is used. */
function usedMetrics(): Map<string, string[]> {
  const used = new Map<string, string[]>();
  const add = (name: string, where: string) => used.set(name, [...(used.get(name) ?? []), where]);
  for (const a of alerts) for (const n of metricNames(a.expr)) add(n, `alert ${a.alert}`);
  for (const { panel, expr } of panelExprs) for (const n of metricNames(expr)) add(n, `panel "${panel}"`);
  for (const { name, query } of variableQueries) {
    const m = /^label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(query);
    for (const n of m ? [m[1]!] : metricNames(query)) add(n, `variable $${name}`);
  }
  return used;
}

describe('reading PromQL for metric names', () => {
  it('finds the metrics of an expression and nothing else', () => {
    expect(metricNames('sum by (queue) (increase(gpuq_a_total{outcome=~"ok|failed", queue="$queue"}[15m])) / on () group_left (x) max(gpuq_b offset 1h) > 0.05 and absent(up{job="gpuq"})')).toEqual(['gpuq_a_total', 'gpuq_b', 'up']);
    expect(metricNames('histogram_quantile(0.95, sum by (le) (rate(gpuq_h_bucket[$__rate_interval]))) unless count(x:y) or vector(0)')).toEqual(['gpuq_h_bucket', 'x:y']);
    expect(metricNames('1e3 * gpuq_c - 2')).toEqual(['gpuq_c']);
  });

  it('maps histogram series to their family and knows a heading\'s anchor', () => {
    const families = exportedFamilies('# TYPE gpuq_h histogram\ngpuq_h_bucket{le="1"} 0\n# TYPE gpuq_c_total counter\n');
    expect(familyOf('gpuq_h_bucket', families)).toBe('gpuq_h');
    expect(familyOf('gpuq_h_count', families)).toBe('gpuq_h');
    expect(familyOf('gpuq_c_total', families)).toBe('gpuq_c_total');
    expect(familyOf('gpuq_c_total_count', families)).toBeUndefined();
    expect(familyOf('gpuq_nope', families)).toBeUndefined();
    expect(headingAnchor('GpuqNodeDown')).toBe('gpuqnodedown');
    expect(headingAnchor('Prometheus and Grafana')).toBe('prometheus-and-grafana');
    expect(markdownAnchors('# A b\n```\n# not a heading\n```\n### `gpuq nodes`: C\n')).toEqual(['a-b', 'gpuq-nodes-c']);
  });
});

describe('the alert rules', () => {
  itPromtool('pass promtool check rules', () => {
    const r = runPromtool(['check', 'rules', RULES], ROOT);
    expect(r.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(r.status, r.output).toBe(0);
  });

  itPromtool('pass their promtool unit tests', () => {
    const r = runPromtool(['test', 'rules', RULE_TESTS], ALERTS_DIR);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('cover what operators page on', () => {
    expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining([
      'GpuqBacklog', 'GpuqJobFailureRateHigh', 'GpuqDlqGrowing', 'GpuqLeaseReclaimsSpiking', 'GpuqAllNodesDown', 'GpuqNodeDown',
      'GpuqGpuTemperatureHigh', 'GpuqGpuUtilizationLowWithBacklog', 'GpuqGpuEccUncorrectedErrors', 'GpuqAttemptsIdle', 'GpuqNoLeader',
      'GpuqLeaderFlapping', 'GpuqQueueWaitSloBreach', 'GpuqPoolStuck', 'GpuqPoolReplicasCrashing', 'GpuqIntakeLagHigh',
      'GpuqIntakeDeadLettered', 'GpuqIntakeSinkBehind', 'GpuqIntakePausedLong', 'GpuqPipelineRunsFailing',
    ]));
    expect(new Set(alerts.map((a) => a.alert)).size).toBe(alerts.length);
  });

  it('each have a severity P0-P3, a summary, a description and a runbook section that exists', () => {
    const anchors = markdownAnchors(readFileSync(OPERATIONS, 'utf8'));
    for (const a of alerts) {
      expect(a.labels?.severity, a.alert).toMatch(/^P[0-3]$/);
      expect(a.annotations?.summary, a.alert).toBeTruthy();
      expect(a.annotations?.description, a.alert).toBeTruthy();
      const runbook = a.annotations?.runbook ?? '';
      expect(runbook, a.alert).toMatch(/^docs\/operations\.md#[\w-]+$/);
      expect(anchors, `${a.alert}: ${runbook} has no heading in docs/operations.md`).toContain(runbook.split('#')[1]);
    }
  });

  it('each have a unit test where they fire and one where they do not', () => {
    expect(ruleTests.rule_files).toEqual(['gpuq.rules.yml']);
    const cases = ruleTests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const a of alerts) {
      const mine = cases.filter((c) => c.alertname === a.alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${a.alert} never fires in gpuq.rules.test.yml`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${a.alert} has no case where it stays silent`).toBe(true);
    }
    // No test of an alert that does not exist (a renamed rule would leave its tests asserting silence forever).
    for (const c of cases) expect(alerts.map((a) => a.alert)).toContain(c.alertname);
  });
});

describe('the Grafana dashboard', () => {
  it('is import-ready: the Prometheus data source is an input, and every panel type it uses is required', () => {
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' })]);
    const required = dashboard.__requires.map((r) => `${r.type}:${r.id}`);
    expect(required).toEqual(expect.arrayContaining(['grafana:grafana', 'datasource:prometheus']));
    for (const t of new Set(panels.map((p) => p.type))) expect(required).toContain(`panel:${t}`);
    expect(dashboard.uid).toBe('gpuq-overview');
    // No data source other than the input, anywhere (a hard-coded uid breaks the import elsewhere).
    const uids = [...JSON.stringify(dashboard).matchAll(/"datasource":\{"type":"prometheus","uid":"([^"]*)"\}/g)].map((m) => m[1]);
    expect(uids.length).toBeGreaterThan(panels.length);
    expect(new Set(uids)).toEqual(new Set(['${DS_PROMETHEUS}']));
    expect(JSON.stringify(dashboard)).not.toMatch(/"datasource":"(?!\$\{DS_PROMETHEUS\})/);
  });

  it('has unique panel ids, a place for every panel and a query in each', () => {
    const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const p of panels) {
      expect(p.gridPos, p.title).toMatchObject({ w: expect.any(Number), h: expect.any(Number), x: expect.any(Number), y: expect.any(Number) });
      expect(p.gridPos!.x + p.gridPos!.w, p.title).toBeLessThanOrEqual(24);
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets!) expect(metricNames(t.expr ?? '').length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
    }
  });

  it('shows jobs by state, queue wait, failures, the DLQ, GPUs with their jobs, idle attempts, the leader and nodes', () => {
    const byMetric = (m: string) => panelExprs.filter((e) => metricNames(e.expr).includes(m)).map((e) => e.panel);
    for (const m of ['gpuq_jobs', 'gpuq_job_queue_wait_seconds_bucket', 'gpuq_jobs_finished_total', 'gpuq_dlq_jobs', 'gpuq_device_utilization_ratio', 'gpuq_device_memory_used_bytes', 'gpuq_device_temperature_celsius', 'gpuq_attempts_idle', 'gpuq_leader', 'gpuq_nodes', 'gpuq_node_up']) {
      expect(byMetric(m), m).not.toEqual([]);
    }
    expect(panelExprs.some((e) => /histogram_quantile\(0\.5,.*gpuq_job_queue_wait_seconds_bucket/.test(e.expr))).toBe(true);
    expect(panelExprs.some((e) => /histogram_quantile\(0\.95,.*gpuq_job_queue_wait_seconds_bucket/.test(e.expr))).toBe(true);
    // Per-GPU panels keep the job that holds the GPU and whether the GPU is simulated.
    for (const m of ['gpuq_device_utilization_ratio', 'gpuq_device_memory_used_bytes', 'gpuq_device_temperature_celsius']) {
      const perGpu = panelExprs.filter((e) => metricNames(e.expr).includes(m) && /by \(node, device, job_id, queue, simulated\)/.test(e.expr));
      expect(perGpu, m).not.toEqual([]);
    }
  });

  itPromtool('has queries that Prometheus parses', () => {
    // Dashboard variables replaced by what Grafana sends, every query as a recording rule for promtool to check.
    const exprs = panelExprs.map((e) => e.expr.replaceAll('$__rate_interval', '1m').replace(/\$\{?(queue|node)\}?/g, '.*'));
    const file = path.join(tempDir('gpuq-dashboard-'), 'dashboard-queries.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `gpuq:dashboard_query_${i}`, expr })) }] }));
    const r = runPromtool(['check', 'rules', file], ROOT);
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});

describe('docs/operations.md', () => {
  /** Every gpuq command line the runbook shows: in code blocks, and in inline code. */
  function documentedCommands(markdown: string): string[][] {
    const lines: string[] = [];
    let fenced = false;
    for (const line of markdown.split('\n')) {
      if (/^\s*```/.test(line)) fenced = !fenced;
      else if (fenced) lines.push(line);
      else lines.push(...[...line.matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
    }
    const commands: string[][] = [];
    for (const line of lines) {
      for (const m of line.matchAll(/(?:^|[\s($])gpuq ([^\n]*)/g)) {
        const words: string[] = [];
        for (const w of m[1]!.trim().split(/\s+/)) {
          if (['|', '||', '&&', ';', '#', '>', '<'].includes(w) || w.startsWith('#') || w.startsWith(')')) break;
          words.push(w);
        }
        commands.push(words);
      }
    }
    return commands;
  }

  it('shows only commands and options gpuq has', async () => {
    const commands = documentedCommands(readFileSync(OPERATIONS, 'utf8')).filter(([name]) => name !== undefined && /^[a-z]+$/.test(name)); // not "gpuq's"
    expect(commands.length).toBeGreaterThan(40);
    // `gpuq ... --help` of each command once, two CLI processes at a time.
    const help = new Map<string, { code: number; stdout: string }>();
    const fetchHelp = async (paths: string[][]) => {
      const todo = [...new Set(paths.map((p) => p.join(' ')))].filter((k) => !help.has(k));
      const worker = async () => {
        for (let k = todo.shift(); k !== undefined; k = todo.shift()) help.set(k, await runCli([...k.split(' '), '--help']));
      };
      await Promise.all([worker(), worker()]);
    };
    const known = (path: string[]) => {
      const h = help.get(path.join(' '))!;
      return h.code === 0 && h.stdout.startsWith(`Usage: gpuq ${path.join(' ')}`);
    };
    await fetchHelp(commands.map(([name]) => [name!]));
    // A command group (node, dlq, token, risk): the next word names its subcommand(s), e.g. cordon|drain|uncordon.
    const resolved = commands.map(([name, ...rest]) => {
      const group = known([name!]) && /^Commands:/m.test(help.get(name!)!.stdout) && rest[0] !== undefined && !rest[0].startsWith('-');
      const paths = group ? rest.shift()!.split('|').map((sub) => [name!, sub]) : [[name!]];
      return { paths, flags: rest.filter((w) => /^--?[a-zA-Z]/.test(w)).map((w) => w.split('=')[0]!) };
    });
    await fetchHelp(resolved.flatMap((r) => r.paths));
    const problems = new Set<string>();
    for (const { paths, flags } of resolved) {
      for (const path of paths) {
        if (!known(path)) {
          problems.add(`gpuq ${path.join(' ')}: no such command`);
          continue;
        }
        const text = help.get(path.join(' '))!.stdout;
        for (const flag of flags) if (!new RegExp(`(^|[\\s,])${flag}([\\s,]|$)`, 'm').test(text)) problems.add(`gpuq ${path.join(' ')} ${flag}: no such option`);
      }
    }
    expect([...problems], [...problems].join('\n')).toEqual([]);
  });
});

describe('the metrics named by the rules and the dashboard', () => {
  let gpuq: GpuqProcess;
  beforeAll(async () => {
    gpuq = await startGpuq({ fakeGpus: 2, args: ['--node-name', 'mon-a'] });
  });
  afterAll(async () => {
    await gpuq?.stop();
  });
  const scrape = async () => (await fetch(`${gpuq.url}/metrics`)).text();
  const sample = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('are all exported by a running gpuq', async () => {
    // A GPU job and a failing one, so that histograms, outcomes and device series have samples.
    const ok = await gpuq.client.submit({ shell: 'true', gpus: 1, queue: 'mon' });
    const bad = await gpuq.client.submit({ shell: 'exit 3', maxAttempts: 1, queue: 'mon' });
    expect((await waitForJobs(gpuq.client, [ok.job.id, bad.job.id], Date.now() + 20_000)).timedOut).toBe(false);
    const text = await scrape();
    const families = exportedFamilies(text);
    const samples = sampleNames(text);
    expect(samples).toContain('gpuq_job_queue_wait_seconds_bucket');
    expect(samples).toContain('gpuq_device_utilization_ratio');

    const used = usedMetrics();
    // `up` is Prometheus's own (whether a scrape of the target succeeded), not gpuq's.
    const missing = [...used].filter(([name]) => name !== 'up' && familyOf(name, families) === undefined).map(([name, where]) => `${name} (${[...new Set(where)].join(', ')})`);
    expect(missing, `named in monitoring/ but not exported on /metrics:\n${missing.join('\n')}`).toEqual([]);
    expect(used.size).toBeGreaterThan(15);
    for (const name of used.keys()) if (name !== 'up') expect(name).toMatch(/^gpuq_/);
  });

  it('report nodes by state and admin state, each node up, and the maintenance mode, as they change', async () => {
    let text = await scrape();
    expect(sample(text, 'gpuq_node_up{node="mon-a",admin_state="active"}')).toBe(1);
    expect(sample(text, 'gpuq_nodes{state="up",admin_state="active"}')).toBe(1);
    expect(sample(text, 'gpuq_nodes{state="up",admin_state="cordoned"}')).toBe(0);
    expect(sample(text, 'gpuq_nodes{state="down",admin_state="active"}')).toBe(0);
    expect(sample(text, 'gpuq_maintenance_drain')).toBe(0);

    await gpuq.client.cordonNode('mon-a');
    await gpuq.client.setMaintenance('drain');
    text = await scrape();
    expect(sample(text, 'gpuq_node_up{node="mon-a",admin_state="cordoned"}')).toBe(1);
    expect(sample(text, 'gpuq_node_up{node="mon-a",admin_state="active"}')).toBeUndefined();
    expect(sample(text, 'gpuq_nodes{state="up",admin_state="cordoned"}')).toBe(1);
    expect(sample(text, 'gpuq_nodes{state="up",admin_state="active"}')).toBe(0);
    expect(sample(text, 'gpuq_maintenance_drain')).toBe(1);

    await gpuq.client.uncordonNode('mon-a');
    await gpuq.client.setMaintenance('normal');
    text = await scrape();
    expect(sample(text, 'gpuq_node_up{node="mon-a",admin_state="active"}')).toBe(1);
    expect(sample(text, 'gpuq_maintenance_drain')).toBe(0);
  });

  it('start a queue\'s DLQ size and outcome counters at 0 once it has jobs, so the first failure is an increase', async () => {
    await gpuq.client.submit({ type: 'noop', queue: 'fresh' }).then(({ job }) => waitForJobs(gpuq.client, [job.id], Date.now() + 10_000));
    await scrape(); // the counters' zeros are set while this scrape reads the job counts
    const text = await scrape();
    expect(sample(text, 'gpuq_dlq_jobs{queue="fresh"}')).toBe(0);
    expect(sample(text, 'gpuq_jobs_finished_total{queue="fresh",outcome="failed"}')).toBe(0);
    expect(sample(text, 'gpuq_jobs_finished_total{queue="fresh",outcome="succeeded"}')).toBe(1);
    expect(sample(text, 'gpuq_job_retries_total{queue="fresh"}')).toBe(0);
    expect(sample(text, 'gpuq_dlq_jobs{queue="mon"}')).toBe(1);
  });
});
