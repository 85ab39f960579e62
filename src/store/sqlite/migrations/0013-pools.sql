-- 0013-pools: warm worker pools (ADR 0016, store/pool-store.ts); the same tables as the PostgreSQL store's 0013-pools.sql.
--
-- A pool is a definition (`pools`), replicas (`pool_replicas`: one row per replica job, the job itself an ordinary
-- row of `jobs`) and a durable queue of small tasks (`pool_tasks`). Tasks are the hot path: every index below on
-- pool_tasks is either partial on a state (so a task is in it only while in that state) or on columns that never
-- change (pool, id), so a claim and a completion each touch two small index entries.

CREATE TABLE pools (
  name               TEXT    PRIMARY KEY,
  -- The parsed PoolSpec, every default filled in.
  spec               TEXT    NOT NULL,
  state              TEXT    NOT NULL CHECK (state = 'active' OR state = 'stopped'),
  -- Bumped by each update: replicas of an older generation are replaced.
  generation         INTEGER NOT NULL,
  -- Copied out of the spec so claims and completions read no JSON.
  task_timeout_ms    REAL    NOT NULL,
  max_attempts       INTEGER NOT NULL,
  backoff_initial_s  REAL    NOT NULL,
  backoff_max_s      REAL    NOT NULL,
  backoff_multiplier REAL    NOT NULL,
  created_at         REAL    NOT NULL,
  updated_at         REAL    NOT NULL
) STRICT;

-- One row per replica job. Removed with its job by retention (ON DELETE CASCADE: purgeFinishedJobs deletes jobs
-- without knowing of pools) and with its pool (deletePool; the job stays, as ordinary job history).
CREATE TABLE pool_replicas (
  job_id           INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  pool             TEXT    NOT NULL,
  generation       INTEGER NOT NULL,
  -- When the worker said ready, and under which attempt (a ready of an earlier attempt is no longer ready).
  ready_at         REAL,
  ready_attempt_id INTEGER,
  stop_requested   INTEGER NOT NULL DEFAULT 0 CHECK (stop_requested IN (0, 1)),
  stop_reason      TEXT,
  -- Why it ended, as its host reported it (the first report wins); else derived from the job's end.
  end_reason       TEXT,
  end_detail       TEXT,
  tasks_done       INTEGER NOT NULL DEFAULT 0,
  last_active_at   REAL,
  created_at       REAL    NOT NULL
) STRICT;

CREATE INDEX pool_replicas_pool ON pool_replicas (pool, job_id);

CREATE TABLE pool_tasks (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  pool            TEXT    NOT NULL,
  state           TEXT    NOT NULL CHECK (state = 'queued' OR state = 'running' OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),
  idempotency_key TEXT,
  -- JSON text, stored and returned as given.
  payload         TEXT    NOT NULL,
  result          TEXT,
  error           TEXT,
  attempts        INTEGER NOT NULL DEFAULT 0,
  attempt_limit   INTEGER NOT NULL,
  in_dlq          INTEGER NOT NULL DEFAULT 0 CHECK (in_dlq IN (0, 1)),
  not_before      REAL    NOT NULL,
  -- The replica job and its attempt holding the current (or last) delivery: a result counts only from them.
  replica_job_id  INTEGER,
  attempt_id      INTEGER,
  -- A running task not answered by then is redelivered (the host enforces the exact timeout; this has a margin).
  deadline        REAL,
  cold            INTEGER NOT NULL CHECK (cold IN (0, 1)),
  created_at      REAL    NOT NULL,
  started_at      REAL,
  finished_at     REAL,
  -- JSON array of TaskRedelivery: each delivery that did not end in a result.
  history         TEXT    NOT NULL DEFAULT '[]',
  owner           TEXT,
  owner_token_id  TEXT
) STRICT;

-- Claims: a pool's queued tasks oldest first; not_before in the key lets the scan skip backed-off tasks without reading rows.
CREATE INDEX pool_tasks_runnable ON pool_tasks (pool, id, not_before) WHERE state = 'queued';
-- Running tasks by the replica attempt holding them: redelivery joins each to its attempt by primary key.
CREATE INDEX pool_tasks_running ON pool_tasks (attempt_id) WHERE state = 'running';
CREATE UNIQUE INDEX pool_tasks_idempotency_key ON pool_tasks (pool, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Listing a pool's tasks newest first, and deleting a pool's tasks (columns that never change: no cost after the insert).
CREATE INDEX pool_tasks_pool_id ON pool_tasks (pool, id);
CREATE INDEX pool_tasks_dlq ON pool_tasks (pool, id) WHERE in_dlq = 1;
-- Retention, and the throughput counts of the part of a second before the summary (pool_task_counts) takes over, covered.
CREATE INDEX pool_tasks_finished ON pool_tasks (finished_at, pool, state, in_dlq) WHERE finished_at IS NOT NULL;
-- The latest cold start of a pool.
CREATE INDEX pool_tasks_cold ON pool_tasks (pool, id) WHERE cold = 1 AND state = 'succeeded';

-- Tasks finished per second and pool, by outcome: the throughput counts (poolBacklogs) sum at most a minute of these
-- instead of reading every task finished in it (a million at 20,000 tasks/s). Kept an hour (redeliverTasks forgets older).
CREATE TABLE pool_task_counts (
  second    INTEGER NOT NULL,
  pool      TEXT    NOT NULL,
  succeeded INTEGER NOT NULL,
  failed    INTEGER NOT NULL,
  PRIMARY KEY (second, pool)
) STRICT, WITHOUT ROWID;

-- The secret replica credentials are derived from (HMAC of job and attempt): made at the first call, then kept.
CREATE TABLE pool_credential_key (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  key        TEXT    NOT NULL,
  created_at REAL    NOT NULL
) STRICT;

-- Feed events (core/feed-events.ts) of pool definitions and replicas; never one per task.
CREATE TRIGGER pools_created_feed AFTER INSERT ON pools
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.created_at, 'pool.created', json_object('pool', NEW.name, 'generation', NEW.generation));
END;
CREATE TRIGGER pools_updated_feed AFTER UPDATE OF generation ON pools
WHEN OLD.generation IS NOT NEW.generation
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.updated_at, 'pool.updated', json_object('pool', NEW.name, 'generation', NEW.generation));
END;
CREATE TRIGGER pools_state_feed AFTER UPDATE OF state ON pools
WHEN OLD.state IS NOT NEW.state
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.updated_at, CASE WHEN NEW.state = 'stopped' THEN 'pool.stopped' ELSE 'pool.started' END,
    json_object('pool', NEW.name));
END;
-- deletePool sets updated_at to the time of the delete first, so the event carries the time the store was given.
CREATE TRIGGER pools_deleted_feed AFTER DELETE ON pools
BEGIN
  INSERT INTO events (at, type, data) VALUES (OLD.updated_at, 'pool.deleted', json_object('pool', OLD.name));
END;
-- pool.replica.ready: a replica's worker said ready (once per attempt); names its job, so `job=ID` and its queue find it.
CREATE TRIGGER pool_replicas_ready_feed AFTER UPDATE OF ready_at ON pool_replicas
WHEN NEW.ready_at IS NOT NULL AND OLD.ready_at IS NOT NEW.ready_at
BEGIN
  INSERT INTO events (at, type, job_id, data) VALUES (NEW.ready_at, 'pool.replica.ready', NEW.job_id,
    json_object('pool', NEW.pool, 'attemptId', NEW.ready_attempt_id, 'generation', NEW.generation));
END;
