-- 0015-pipelines: pipeline definitions and their runs (ADR 0018, core/pipeline-spec.ts, core/pipeline-run.ts).
--
-- A run is ordinary jobs linked by dependsOn (pipeline_run_jobs says which job is which step and lane); it keeps
-- the spec it was created with, so deleting or recreating its pipeline changes nothing of a run under way.
-- A run is created with all its jobs in one transaction, so it is never half there.
CREATE TABLE pipelines (
  name       TEXT PRIMARY KEY,
  -- The parsed PipelineSpec (JSON), every default filled in.
  spec       TEXT NOT NULL,
  created_at REAL NOT NULL
) STRICT;

CREATE TABLE pipeline_runs (
  id                INTEGER PRIMARY KEY AUTOINCREMENT,
  pipeline          TEXT    NOT NULL,
  spec              TEXT    NOT NULL,
  state             TEXT    NOT NULL CHECK (state = 'running' OR state = 'succeeded' OR state = 'failed' OR state = 'cancelled'),
  run_dir           TEXT    NOT NULL,
  -- JSON array of the input files' names, in lane order.
  inputs            TEXT    NOT NULL,
  owner             TEXT,
  reason            TEXT,
  -- JSON array of {from, name}: the files to publish, chosen (and stored) before the first is written. NULL until then.
  outputs           TEXT,
  on_failure_job_id INTEGER,
  created_at        REAL    NOT NULL,
  ended_at          REAL
) STRICT;
CREATE INDEX pipeline_runs_running ON pipeline_runs (id) WHERE state = 'running';
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, id);

CREATE TABLE pipeline_run_jobs (
  run_id INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  step   INTEGER NOT NULL,
  lane   INTEGER NOT NULL,
  job_id INTEGER NOT NULL,
  PRIMARY KEY (run_id, step, lane)
) STRICT;
CREATE INDEX pipeline_run_jobs_job ON pipeline_run_jobs (job_id);
