-- 0001-init: the first schema of the SQLite store.
--
-- Conventions:
--   * Times are milliseconds since the epoch, REAL (fractional ms allowed).
--   * JSON columns hold compact JSON text (arrays of device indices, label maps, the parsed JobSpec).
--   * An attempt is live while its state is 'assigned' or 'running'. Partial indexes
--     use exactly `state IN ('assigned', 'running')` so the planner can pick them
--     for queries that repeat that expression.
--   * Public ids (jobs.id, attempts.id) are AUTOINCREMENT: an id is never reused,
--     even after retention deletes the newest rows; an attempt id is a fencing token.

CREATE TABLE jobs (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  name               TEXT    NOT NULL,
  queue              TEXT    NOT NULL,
  type               TEXT    NOT NULL,
  -- CHECKs spell lists with OR: SQLite builds a temporary table for an IN list of more than two values
  -- each time the constraint is checked, which made every insert and state change ~2 µs slower.
  state              TEXT    NOT NULL CHECK (state = 'queued' OR state = 'assigned' OR state = 'running' OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),
  priority           INTEGER NOT NULL,
  gpus               INTEGER NOT NULL,
  cpus               REAL    NOT NULL,
  memory_mb          INTEGER NOT NULL,
  -- JSON object; '{}' when the job may run anywhere.
  node_selector      TEXT    NOT NULL,
  -- JSON object, filtered with json_each.
  labels             TEXT    NOT NULL,
  -- The parsed JobSpec, every default filled in.
  spec               TEXT    NOT NULL,
  -- spec.backoff copied out so endAttempts needs no JSON parse.
  backoff_initial_s  REAL    NOT NULL,
  backoff_max_s      REAL    NOT NULL,
  backoff_multiplier REAL    NOT NULL,
  idempotency_key    TEXT,
  attempts           INTEGER NOT NULL DEFAULT 0,
  attempt_limit      INTEGER NOT NULL,
  not_before         REAL    NOT NULL,
  in_dlq             INTEGER NOT NULL DEFAULT 0 CHECK (in_dlq IN (0, 1)),
  reason             TEXT,
  node_id            TEXT,
  -- JSON array of device indices on node_id; '[]' when not placed.
  devices            TEXT    NOT NULL DEFAULT '[]',
  created_at         REAL    NOT NULL,
  updated_at         REAL    NOT NULL,
  started_at         REAL,
  finished_at        REAL
) STRICT;

-- Scheduling: runnable queued jobs, priority desc then FIFO by id; not_before in the key lets the scan skip backed-off jobs without reading rows.
CREATE INDEX jobs_runnable ON jobs (priority DESC, id, not_before) WHERE state = 'queued';
-- Listing, newest first, by state, or by queue and state (see list-jobs-sql.ts); the second also covers jobStats and cancel by queue.
CREATE INDEX jobs_state_id ON jobs (state, id);
CREATE INDEX jobs_queue_state_id ON jobs (queue, state, id);
-- Partial: most jobs have no key, and NULLs would only grow the index.
CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- DLQ listing, replay and stats.
CREATE INDEX jobs_dlq ON jobs (id, queue) WHERE in_dlq = 1;
-- Retention: terminal jobs out of the DLQ, oldest finish first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL AND in_dlq = 0;

CREATE TABLE attempts (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id           INTEGER NOT NULL REFERENCES jobs (id),
  number           INTEGER NOT NULL,
  node_id          TEXT    NOT NULL,
  devices          TEXT    NOT NULL,
  -- The job's reservation, copied so node capacity is a sum over live attempts alone.
  cpus             REAL    NOT NULL,
  memory_mb        INTEGER NOT NULL,
  -- Run slots held on the node while live (1 for exec, 0 for noop; see nodes.max_running).
  slots            INTEGER NOT NULL,
  state            TEXT    NOT NULL CHECK (state = 'assigned' OR state = 'running' OR state = 'succeeded' OR state = 'failed' OR state = 'timed_out' OR state = 'cancelled' OR state = 'lost'),
  assigned_at      REAL    NOT NULL,
  started_at       REAL,
  ended_at         REAL,
  exit_code        INTEGER,
  signal           TEXT,
  reason           TEXT,
  lease_expires_at REAL    NOT NULL,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  pid              INTEGER,
  log_path         TEXT,
  UNIQUE (job_id, number)
) STRICT;

CREATE INDEX attempts_live_node ON attempts (node_id) WHERE state IN ('assigned', 'running');
CREATE INDEX attempts_live_lease ON attempts (lease_expires_at) WHERE state IN ('assigned', 'running');

-- One row per device held by a live attempt: inserted by applyPlan, deleted when the
-- attempt ends. The primary key makes "a device is held by at most one live attempt"
-- a property of the database, and the scheduler's free-device check a key lookup.
CREATE TABLE device_holds (
  node_id      TEXT    NOT NULL,
  device_index INTEGER NOT NULL,
  attempt_id   INTEGER NOT NULL REFERENCES attempts (id),
  PRIMARY KEY (node_id, device_index)
) STRICT, WITHOUT ROWID;

CREATE INDEX device_holds_attempt ON device_holds (attempt_id);

CREATE TABLE job_events (
  id         INTEGER PRIMARY KEY,
  job_id     INTEGER NOT NULL REFERENCES jobs (id),
  attempt    INTEGER,
  from_state TEXT,
  to_state   TEXT    NOT NULL,
  at         REAL    NOT NULL,
  reason     TEXT
) STRICT;

CREATE INDEX job_events_job ON job_events (job_id, id);

CREATE TABLE nodes (
  id                TEXT    PRIMARY KEY,
  hostname          TEXT    NOT NULL,
  labels            TEXT    NOT NULL,
  cpus              REAL    NOT NULL,
  memory_mb         INTEGER NOT NULL,
  -- Most slot-taking (exec) attempts live on the node at once; applyPlan refuses placements beyond it.
  max_running       INTEGER NOT NULL CHECK (max_running >= 1),
  incarnation       TEXT    NOT NULL,
  last_heartbeat_at REAL    NOT NULL,
  state             TEXT    NOT NULL CHECK (state IN ('up', 'down'))
) STRICT;

CREATE TABLE devices (
  node_id         TEXT    NOT NULL REFERENCES nodes (id),
  device_index    INTEGER NOT NULL,
  uuid            TEXT    NOT NULL,
  name            TEXT    NOT NULL,
  simulated       INTEGER NOT NULL,
  memory_total_mb INTEGER NOT NULL,
  pci_bus_id      TEXT,
  healthy         INTEGER NOT NULL,
  PRIMARY KEY (node_id, device_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE telemetry (
  node_id         TEXT    NOT NULL,
  device_index    INTEGER NOT NULL,
  at              REAL    NOT NULL,
  utilization_pct REAL,
  memory_used_mb  REAL,
  temperature_c   REAL,
  power_w         REAL,
  ecc_corrected   INTEGER,
  ecc_uncorrected INTEGER
) STRICT;

CREATE INDEX telemetry_device_at ON telemetry (node_id, device_index, at);
CREATE INDEX telemetry_at ON telemetry (at);

-- The newest sample of each device, kept beside the history so reading it never scans the history.
CREATE TABLE telemetry_latest (
  node_id         TEXT    NOT NULL,
  device_index    INTEGER NOT NULL,
  at              REAL    NOT NULL,
  utilization_pct REAL,
  memory_used_mb  REAL,
  temperature_c   REAL,
  power_w         REAL,
  ecc_corrected   INTEGER,
  ecc_uncorrected INTEGER,
  PRIMARY KEY (node_id, device_index)
) STRICT, WITHOUT ROWID;

CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at REAL NOT NULL
) STRICT;
