-- 0018-schedules: cron schedules of pipelines and job templates, and the fires they made (ADR 0018); the same
-- tables as the SQLite store's 0018-schedules.sql. A fire is unique on (schedule, fire_at): a pipeline run's is
-- written in the run's transaction, a job's after its submit (idempotency key schedule:<name>:<time>).
CREATE TABLE schedules (
  name         text COLLATE "C" PRIMARY KEY,
  spec         json             NOT NULL,
  paused       boolean          NOT NULL DEFAULT false,
  last_fire_at double precision,
  created_at   double precision NOT NULL
);

CREATE TABLE schedule_fires (
  schedule text COLLATE "C" NOT NULL,
  fire_at  double precision NOT NULL,
  job_id   bigint,
  run_id   bigint,
  PRIMARY KEY (schedule, fire_at)
);
