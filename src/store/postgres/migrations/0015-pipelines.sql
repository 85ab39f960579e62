-- 0015-pipelines: pipeline definitions and their runs (ADR 0018); the same tables as the SQLite store's
-- 0015-pipelines.sql. A run is created with all its jobs in one transaction, so it is never half there.
CREATE TABLE pipelines (
  name       text COLLATE "C" PRIMARY KEY,
  spec       json             NOT NULL,
  created_at double precision NOT NULL
);

CREATE TABLE pipeline_runs (
  id                bigserial PRIMARY KEY,
  pipeline          text COLLATE "C" NOT NULL,
  spec              json             NOT NULL,
  state             text             NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled')),
  run_dir           text             NOT NULL,
  inputs            json             NOT NULL,
  owner             text,
  reason            text,
  outputs           json,
  on_failure_job_id bigint,
  created_at        double precision NOT NULL,
  ended_at          double precision
);
CREATE INDEX pipeline_runs_running ON pipeline_runs (id) WHERE state = 'running';
CREATE INDEX pipeline_runs_by_pipeline ON pipeline_runs (pipeline, id);

CREATE TABLE pipeline_run_jobs (
  run_id bigint  NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  step   integer NOT NULL,
  lane   integer NOT NULL,
  job_id bigint  NOT NULL,
  PRIMARY KEY (run_id, step, lane)
);
CREATE INDEX pipeline_run_jobs_job ON pipeline_run_jobs (job_id);
