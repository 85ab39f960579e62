import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/types.js';
import { GpuqClient, type PipelineRun } from '../src/sdk/client.js';
import { leakedAgents, startAgent, type AgentProcess } from './helpers/agent-process.js';
import { createToken, leakedServers, startGpuq, tempDir, until, type GpuqProcess } from './helpers/gpuq-process.js';
import { TestSchemas } from './helpers/postgres.js';

// Directory triggers and schedules (ADR 0018) across a leader change, with real processes: two `gpuq up --no-agent`
// replicas on one PostgreSQL schema sharing one --pipelines-dir and one watched directory (a shared mount in
// production), and a `gpuq agent` running the steps. The leader is killed -9 while files are being claimed and
// runs are under way; the other replica takes over, the killed one comes back as a follower, and every file must
// still get one run and one output, and every schedule time one job.
const schemas = new TestSchemas();
const servers: GpuqProcess[] = [];
const agents: AgentProcess[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  for (const s of servers.splice(0)) await s.stop();
  expect(leakedAgents()).toBe(0);
  expect(leakedServers()).toBe(0);
});
afterAll(async () => {
  await schemas.dropAllAndEnd();
});

interface LeaderStatus {
  leader: { replica: string; term: number } | null;
  self: { replica: string; leader: boolean };
}

/** Two CPU steps per file: upper-case it, then quote each line. They sleep, so runs are under way when the leader dies. */
const shout = (outputDir: string) => ({
  name: 'shout',
  outputDir,
  steps: [
    { name: 'upper', fanOut: true, job: { shell: 'sleep 1; tr a-z A-Z < "$GPUQ_STEP_INPUT" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$GPUQ_STEP_INPUT" .txt).up"' } },
    { name: 'quote', fanOut: true, job: { shell: 'sleep 0.3; for f in "$GPUQ_STEP_INPUT_DIR"/*; do sed "s/^/> /" "$f" > "$GPUQ_STEP_OUTPUT_DIR/$(basename "$f" .up).out"; done' } },
  ],
});

const FILES = 90;
const nameOf = (i: number) => `f${String(i).padStart(3, '0')}.txt`;
const textOf = (i: number) => `line one of file ${i}\nline two of file ${i}\n`;
const outputOf = (i: number) => `> LINE ONE OF FILE ${i}\n> LINE TWO OF FILE ${i}\n`;
const listing = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('pipelines in a cluster on PostgreSQL: kill -9 of the leader', () => {
  it('directory trigger: one run and one whole output per file; schedule: each time fires once, on under the new leader', async () => {
    const { schema, url: db } = await schemas.createForServer();
    const [admin, agentToken] = [await createToken(db, 'admin', 'root'), await createToken(db, 'agent', 'cpu-hosts')];
    const pipelinesDir = tempDir('gpuq-failover-shared-');
    const dir = tempDir('gpuq-failover-');
    const [inbox, staging, out] = ['inbox', 'staging', 'out'].map((d) => path.join(dir, d)) as [string, string, string];
    mkdirSync(inbox);
    mkdirSync(staging);
    // A leader lease of 3 s: the survivor takes over within about 5 s.
    const args = ['--no-agent', '--database-url', db, '--auth', 'required', '--pipelines-dir', pipelinesDir, '--leader-lease-seconds', '3'];
    const replica = async (dataDir?: string) => {
      const s = await startGpuq({ args, ...(dataDir ? { dataDir } : {}) });
      servers.push(s);
      return s;
    };
    await replica();
    await replica();
    agents.push(await startAgent({ server: servers.map((s) => s.url), token: agentToken, node: 'cpu-a', fakeGpus: 1, args: ['--heartbeat-seconds', '0.5'] }));
    const clientOf = (s: GpuqProcess) => new GpuqClient(s.url, { token: admin });
    const statusOf = async (s: GpuqProcess) => (await (await fetch(`${s.url}/v1/status/leader`, { headers: { authorization: `Bearer ${admin}` } })).json()) as LeaderStatus;

    const leader = await until('a leader', async () => {
      for (const s of servers) if ((await statusOf(s)).self.leader) return s;
      return undefined;
    }, 20_000, 100);
    const survivor = servers.find((s) => s !== leader)!;
    const before = await statusOf(leader);
    // Everything is asked of the replica that survives, so the questions go on while the leader is down.
    const client = clientOf(survivor);
    const runs = async (): Promise<PipelineRun[]> => (await client.listPipelineRuns({ pipeline: 'shout', limit: 1000 })).runs;

    await client.createPipeline(shout(out));
    await client.createTrigger({ name: 'inbox', pipeline: 'shout', directory: inbox, complete: { mode: 'rename' }, pollMs: 50 });
    // missed: all — the times no leader was there to fire are fired by the next one, so every time has its job.
    await client.createSchedule({ name: 'tick', cron: '* * * * * *', missed: 'all', target: { job: { queue: 'q-tick', shell: 'true' } } });

    // Files are written beside the directory and moved in whole (rename mode), in batches.
    let dropped = 0;
    const drop = (n: number) => {
      for (const end = dropped + n; dropped < end; dropped++) {
        writeFileSync(path.join(staging, nameOf(dropped)), textOf(dropped));
        renameSync(path.join(staging, nameOf(dropped)), path.join(inbox, nameOf(dropped)));
      }
    };
    // The claims as the store holds them (the API does not show them): how far each file got.
    const claimsNow = () => schemas.query<{ file: string; run_id: string | null; settled: string | null }>(`SELECT file, run_id, settled FROM ${schema}.trigger_claims WHERE trigger = 'inbox' ORDER BY file`);
    await until('2 schedule fires', async () => (await client.getSchedule('tick')).fires.length >= 2 || undefined, 30_000, 50);
    drop(15);
    await until('10 runs', async () => (await runs()).length >= 10 || undefined, 30_000, 50);

    // A batch lands; once the leader has claimed files of it whose runs it has not started yet, another batch lands and
    // the leader dies at once: claims without runs, runs under way, files landed and not claimed.
    drop(25);
    await until('claims without runs', async () => (await claimsNow()).filter((c) => c.run_id === null).length >= 5 || undefined, 30_000, 10);
    drop(10);
    const killedAt = Date.now();
    await leader.crash();
    servers.splice(servers.indexOf(leader), 1);
    const atKill = await claimsNow();
    expect(atKill.filter((c) => c.run_id === null).length).toBeGreaterThan(0);
    expect(atKill.filter((c) => c.run_id !== null && c.settled === null).length).toBeGreaterThan(0);
    expect(atKill.length).toBeLessThan(dropped);

    // More land while no replica leads.
    drop(20);
    await until('the survivor to lead', async () => (await statusOf(survivor)).self.leader, 20_000, 100);
    const tookOverAt = Date.now();
    const after = await statusOf(survivor);
    expect(after.leader!.replica).toBe(after.self.replica);
    expect(after.leader!.term).toBeGreaterThan(before.leader!.term);

    // The killed replica comes back, as a follower.
    const restarted = await replica(leader.dataDir);
    const restartedAt = Date.now();
    const rejoined = await statusOf(restarted);
    expect(rejoined.self.leader).toBe(false);
    expect(rejoined.leader!.replica).toBe(after.self.replica);

    // The rest, in batches, each once the runs caught up with the files dropped so far.
    while (dropped < FILES) {
      const landed = dropped;
      await until(`runs for ${landed} files`, async () => (await runs()).length >= landed || undefined, 60_000, 100);
      drop(10);
    }
    await until(`${FILES} runs ended`, async () => {
      const rs = await runs();
      // More runs than files: a file ran twice, which the assertions below report.
      return rs.length > FILES || (rs.length === FILES && rs.every((r) => r.state !== 'running')) || undefined;
    }, 90_000, 200);
    await until(`${FILES} files settled in done/`, () => listing(path.join(inbox, 'done')).length >= FILES || undefined, 30_000, 100);
    // The schedule goes on under the new leader, with the killed replica back as a follower.
    await until('3 schedule fires after the restart', async () => (await client.getSchedule('tick')).fires.filter((f) => f.fireAt > restartedAt).length >= 3 || undefined, 30_000, 100);

    // ── Every file: exactly one run, succeeded, and exactly one whole output under its own name. ──
    const names = Array.from({ length: FILES }, (_, i) => nameOf(i));
    const all = await runs();
    expect(all).toHaveLength(FILES);
    expect(all.filter((r) => r.state !== 'succeeded').map((r) => `${r.id} ${r.state}: ${r.reason}`)).toEqual([]);
    expect(all.map((r) => r.inputs.join(',')).sort()).toEqual(names);
    expect(all.map((r) => r.outputs?.map((o) => o.name).join(',')).sort()).toEqual(names.map((n) => n.replace(/\.txt$/, '.out')));
    // No `.run<id>` duplicate, no temporary file left from a publish cut short, no partial content.
    expect(listing(out)).toEqual(names.map((n) => n.replace(/\.txt$/, '.out')));
    for (let i = 0; i < FILES; i++) expect(readFileSync(path.join(out, nameOf(i).replace(/\.txt$/, '.out')), 'utf8')).toBe(outputOf(i));

    // ── Every claim settled: each file in done/ once, nothing in .processing/ or failed/, nothing left unclaimed. ──
    expect(listing(path.join(inbox, 'done'))).toEqual(names);
    expect(listing(path.join(inbox, '.processing'))).toEqual([]);
    expect(listing(path.join(inbox, 'failed'))).toEqual([]);
    expect(listing(inbox)).toEqual(['.processing', 'done']);
    // One claim per file (a second claim of a file would be settled `lost`), each with its run, all settled done.
    const claims = await claimsNow();
    expect(claims.map((c) => `${c.file} ${c.settled}`)).toEqual(names.map((n) => `${n} done`));
    expect(new Set(claims.map((c) => c.run_id)).size).toBe(FILES);
    expect(claims.every((c) => all.some((r) => String(r.id) === String(c.run_id)))).toBe(true);

    // ── The schedule: one job per time, every time from the first to the last fired, none twice, on past the kill. ──
    await client.setSchedulesPaused(['tick'], true);
    // A pass under way when it was paused finishes: its job is submitted before its fire is recorded.
    const fireRows = () => schemas.query<{ fire_at: number; job_id: string | null }>(`SELECT fire_at, job_id FROM ${schema}.schedule_fires WHERE schedule = 'tick' ORDER BY fire_at`);
    const jobsOf = async (): Promise<Job[]> => (await client.list({ queue: 'q-tick', limit: 1000 })).jobs;
    const { jobs, fires } = await until('each schedule job recorded as its fire', async () => {
      const [j, f] = [await jobsOf(), await fireRows()];
      return j.length === f.length ? { jobs: j, fires: f } : undefined;
    }, 10_000, 100);
    const keys = jobs.map((j) => j.spec.idempotencyKey ?? '');
    expect(new Set(keys).size).toBe(jobs.length);
    const times = keys.map((k) => {
      expect(k).toMatch(/^schedule:tick:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      return Date.parse(k.slice('schedule:tick:'.length));
    }).sort((a, b) => a - b);
    // A whole second each, consecutive: no time fired twice, none left out across the leader change.
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(1000);
    expect(times[0]!).toBeLessThan(killedAt);
    expect(times.filter((t) => t > tookOverAt).length).toBeGreaterThanOrEqual(3);
    // Each fire recorded once, with the job whose key names its time.
    const jobAt = new Map(jobs.map((j) => [Date.parse(j.spec.idempotencyKey!.slice('schedule:tick:'.length)), j.id]));
    expect(fires.map((f) => Number(f.fire_at))).toEqual(times);
    expect(fires.map((f) => Number(f.job_id))).toEqual(times.map((t) => jobAt.get(t)));
    // As the API shows them (the latest 20): distinct times, each with its job.
    const shown = (await client.getSchedule('tick')).fires;
    expect(shown.length).toBeGreaterThan(0);
    expect(new Set(shown.map((f) => f.fireAt)).size).toBe(shown.length);
    for (const f of shown) expect(f.jobId).toBe(jobAt.get(f.fireAt));
  }, 180_000);
});
