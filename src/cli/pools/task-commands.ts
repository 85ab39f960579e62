import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { PoolTask, TaskInput } from '../../core/pool-spec.js';
import type { PoolsApi, TaskAck } from '../../sdk/pools-client.js';
import { clientFor, commonOptions, runAction, type CommonOptions } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { printJson, printLine, table, UsageError, warn } from '../output.js';
import { compact, describeTask, TASK_HEADERS, taskRow } from './pool-format.js';
import { batches, FINAL_TASK_STATES, parsePayload, parseTaskIds, parseTaskLines, parseTaskStates, WAIT_CHUNK_SECONDS, waitSeconds } from './task-input.js';

/** The task subcommands of `gpuq pool`: submit, task, tasks, replay. */

/**
 * Reads each task until it has ended or the deadline passes, in order, by long-polls of at most WAIT_CHUNK_SECONDS
 * (so no request outlives the HTTP client's timeouts). A task given in full and already ended is not read again;
 * once the deadline has passed, the rest are read once without waiting.
 */
export async function awaitTasks(client: PoolsApi, pool: string, items: (PoolTask | TaskAck)[], deadline: number): Promise<{ tasks: PoolTask[]; timedOut: boolean }> {
  const tasks: PoolTask[] = [];
  let timedOut = false;
  for (const item of items) {
    let t: PoolTask | null = 'payload' in item ? item : null;
    while (t === null || !FINAL_TASK_STATES.has(t.state)) {
      const left = deadline - Date.now();
      if (t !== null && left <= 0) {
        timedOut = true;
        break;
      }
      t = (await client.getTask(pool, item.id, left > 0 ? { wait: Math.min(WAIT_CHUNK_SECONDS, Math.ceil(left / 1000)) } : {})).task;
    }
    tasks.push(t);
  }
  return { tasks, timedOut };
}

/** The first wait to ask the submit itself for: the whole wait if it fits in one request. */
function firstWait(seconds: number): number {
  return Math.min(WAIT_CHUNK_SECONDS, Math.ceil(seconds));
}

/** Prints waited tasks (the result alone for one task) and returns the exit code: 6 if the wait ran out, 1 if one failed. */
function reportWaited(tasks: PoolTask[], timedOut: boolean, json: boolean | undefined, waited: number): number {
  if (json) printJson(tasks.length === 1 ? { task: tasks[0], timedOut } : { tasks, timedOut });
  else if (tasks.length === 1 && tasks[0]!.state === 'succeeded') printLine(compact(tasks[0]!.result));
  else if (tasks.length > 1) printLine(table(['ID', 'STATE', 'RESULT'], tasks.map((t) => [t.id, t.state + (t.inDlq ? ' (dlq)' : ''), t.state === 'succeeded' ? compact(t.result) : (t.error ?? '')])));
  for (const t of tasks) {
    if (t.state === 'failed' || t.state === 'cancelled') warn(`gpuq: task ${t.id} ${t.state}: ${t.error ?? 'no error given'}`);
    else if (t.state !== 'succeeded') warn(`gpuq: task ${t.id} still ${t.state} after waiting ${waited} s`);
  }
  if (timedOut) return EXIT.TIMEOUT;
  return tasks.every((t) => t.state === 'succeeded') ? EXIT.OK : EXIT.FAILED;
}

async function readSource(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

type SubmitOptions = CommonOptions & { payload?: string; file?: string; objects?: boolean; key?: string; wait?: string | boolean };
type TaskOptions = CommonOptions & { wait?: string | boolean };
type TasksOptions = CommonOptions & { state?: string; dlq?: boolean; limit?: number; cursor?: string };

export function registerTaskCommands(cmd: Command): void {
  commonOptions(cmd.command('submit').description('submit tasks to a pool; prints their IDs, or with --wait the result (exit 1 if a task failed, 6 if the wait ran out)'))
    .argument('<name>', 'pool name')
    .option('--payload <json>', 'one task: its payload, any JSON value')
    .option('-f, --file <path>', 'tasks from a file (- for stdin): one JSON payload per line, or task objects with --objects')
    .option('--objects', 'with -f: each line is {"payload": ..., "idempotencyKey": "..."}')
    .option('--key <key>', 'with --payload: an idempotency key; a second submit with it returns the first task')
    .option('--wait [seconds]', 'wait for the result(s): until they end, or at most this long')
    .action((name: string, o: SubmitOptions) =>
      runAction(async () => {
        const wait = waitSeconds(o.wait);
        if ((o.payload === undefined) === (o.file === undefined)) throw new UsageError('give the task with --payload JSON, or tasks with -f FILE (one payload per line): one of them');
        if (o.key !== undefined && o.payload === undefined) throw new UsageError('--key goes with --payload; with -f, give keys in task objects (--objects)');
        if (o.objects && o.file === undefined) throw new UsageError('--objects describes the lines of -f FILE');
        const client = clientFor(o);
        const deadline = wait === undefined ? 0 : Date.now() + wait * 1000;
        if (o.payload !== undefined) {
          const payload = parsePayload(o.payload);
          const res = await client.submitTask(name, payload, { ...(o.key === undefined ? {} : { idempotencyKey: o.key }), ...(wait === undefined ? {} : { wait: firstWait(wait) }) });
          if (res.created === false) warn(`task ${res.task.id} exists already with key "${o.key}": that task is answered`);
          if (wait === undefined) return o.json ? printJson(res) : printLine(String(res.task.id));
          const done = await awaitTasks(client, name, [res.task], deadline);
          return reportWaited(done.tasks, done.timedOut, o.json, wait);
        }
        const tasks: TaskInput[] = parseTaskLines(o.file!, await readSource(o.file!), o.objects === true);
        const chunks = batches(tasks);
        let submitted: (TaskAck | PoolTask)[] = [];
        for (const [i, chunk] of chunks.entries()) {
          // One request holds at most POOL_LIMITS.maxBatch tasks; each batch is its own transaction.
          try {
            // A single batch may wait in the submit itself; with several, waiting would hold back the next batch.
            const res = wait !== undefined && chunks.length === 1 ? await client.submitTasks(name, chunk, { wait: firstWait(wait) }) : await client.submitTasks(name, chunk);
            submitted = submitted.concat(res.tasks);
          } catch (e) {
            if (i > 0) warn(`gpuq: ${submitted.length} task(s) were submitted before this failed (IDs ${submitted[0]!.id}..${submitted[submitted.length - 1]!.id})`);
            throw e;
          }
        }
        const existing = submitted.filter((t) => 'created' in t && t.created === false).length;
        if (existing > 0) warn(`${existing} task(s) exist already with their idempotency key: those tasks are answered`);
        if (wait === undefined) {
          if (o.json) return printJson({ tasks: submitted });
          return printLine(submitted.map((t) => t.id).join('\n'));
        }
        const done = await awaitTasks(client, name, submitted, deadline);
        return reportWaited(done.tasks, done.timedOut, o.json, wait);
      }),
    );

  commonOptions(cmd.command('task').description('show one task: state, attempts, redeliveries, result or error; --wait waits for it to end (exit 1 if it failed, 6 if the wait ran out)'))
    .argument('<name>', 'pool name')
    .argument('<id>', 'task ID')
    .option('--wait [seconds]', 'wait until it ends, or at most this long')
    .action((name: string, id: string, o: TaskOptions) =>
      runAction(async () => {
        const wait = waitSeconds(o.wait);
        const [taskId] = parseTaskIds([id]);
        const client = clientFor(o);
        if (wait === undefined) {
          const res = await client.getTask(name, taskId!);
          return o.json ? printJson(res) : printLine(describeTask(res.task, Date.now()));
        }
        const { tasks, timedOut } = await awaitTasks(client, name, [{ id: taskId!, state: 'queued', created: false }], Date.now() + wait * 1000);
        const task = tasks[0]!;
        if (o.json) printJson({ task, timedOut });
        else printLine(describeTask(task, Date.now()));
        if (timedOut) return EXIT.TIMEOUT;
        return task.state === 'succeeded' ? EXIT.OK : EXIT.FAILED;
      }),
    );

  commonOptions(cmd.command('tasks').description('list a pool\'s tasks, newest first'))
    .argument('<name>', 'pool name')
    .option('--state <states>', 'only these states, comma-separated: queued, running, succeeded, failed, cancelled')
    .option('--dlq', 'only tasks in the pool\'s dead-letter queue (failed for good)')
    .option('-n, --limit <n>', 'at most this many', (v) => Number(v), 100)
    .option('--cursor <cursor>', 'the next page (printed on stderr when there is one)')
    .action((name: string, o: TasksOptions) =>
      runAction(async () => {
        if (!Number.isInteger(o.limit) || o.limit! < 1) throw new UsageError('--limit must be a positive integer');
        const res = await clientFor(o).listTasks(name, { ...(o.state === undefined ? {} : { state: parseTaskStates(o.state) }), ...(o.dlq ? { dlq: true } : {}), limit: o.limit, ...(o.cursor ? { cursor: o.cursor } : {}) });
        if (o.json) return printJson(res);
        const now = Date.now();
        printLine(table(TASK_HEADERS, res.tasks.map((t) => taskRow(t, now))));
        if (res.nextCursor !== null) warn(`more: gpuq pool tasks ${name} --cursor ${res.nextCursor}`);
      }),
    );

  commonOptions(cmd.command('replay').description('deliver tasks of the pool\'s DLQ again, with a fresh attempt budget'))
    .argument('<name>', 'pool name')
    .argument('[ids...]', 'task IDs')
    .option('--all', 'every task in the pool\'s DLQ')
    .action((name: string, ids: string[], o: CommonOptions & { all?: boolean }) =>
      runAction(async () => {
        if (o.all && ids.length) throw new UsageError('give task IDs or --all, not both');
        if (!o.all && !ids.length) throw new UsageError('give task IDs, or --all');
        const res = await clientFor(o).replayTasks(name, o.all ? 'all' : parseTaskIds(ids));
        if (o.json) return printJson(res);
        printLine(`replayed ${res.replayed.length} task(s)${res.replayed.length ? `: ${res.replayed.map((t) => t.id).join(' ')}` : ''}`);
      }),
    );
}
