-- 0018-schedules: cron schedules of pipelines and job templates, and the fires they made (ADR 0018, core/schedule-spec.ts).
--
-- A fire happens once: its row is unique on (schedule, fire_at). A pipeline run's fire row is written in the run's
-- own transaction (createPipelineRun's `fire`); a job's fire submits the job with the idempotency key
-- schedule:<name>:<time>, so a leader that crashed before recording it submits the same job again, which the store
-- dedups, then records it. last_fire_at (the last time fired or passed over) advances with each fire recorded.
CREATE TABLE schedules (
  name         TEXT    PRIMARY KEY,
  -- The parsed ScheduleSpec (JSON), every default filled in.
  spec         TEXT    NOT NULL,
  paused       INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  -- NULL before the first fire: times count from created_at.
  last_fire_at REAL,
  created_at   REAL    NOT NULL
) STRICT;

CREATE TABLE schedule_fires (
  schedule TEXT    NOT NULL,
  fire_at  REAL    NOT NULL,
  job_id   INTEGER,
  run_id   INTEGER,
  PRIMARY KEY (schedule, fire_at)
) STRICT;
