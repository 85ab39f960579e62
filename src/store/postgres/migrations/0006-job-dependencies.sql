-- 0006-job-dependencies: jobs that wait for other jobs (spec.dependsOn; core/dependencies.ts); the same
-- table, column and indexes as the SQLite store's 0006-job-dependencies.sql.
--
-- One row per (job, dependency). `met` turns true when the dependency succeeds, in the transaction of its
-- success, and stays true (success is final, so a dependency purged by retention later is still known to
-- have been met). No foreign key on depends_on: retention may purge a dependency before its dependents.
-- Lock order: a submit takes FOR SHARE on the jobs it depends on before inserting its rows here, so a
-- dependency's end (which holds its job row) either commits first and is seen, or sees the new rows.
CREATE TABLE job_dependencies (
  job_id     bigint  NOT NULL REFERENCES jobs (id),
  depends_on bigint  NOT NULL,
  met        boolean NOT NULL DEFAULT false,
  PRIMARY KEY (job_id, depends_on)
);

-- A dependency's end finds the jobs still waiting for it; met edges are never looked up by dependency.
CREATE INDEX job_dependencies_waiting ON job_dependencies (depends_on) WHERE NOT met;

-- How many of a queued job's dependencies have not succeeded yet (kept by the transactions that end them).
ALTER TABLE jobs ADD COLUMN deps_unmet integer NOT NULL DEFAULT 0;

-- The scheduler's queue holds only jobs waiting for nothing: a job waiting for its dependencies is never
-- read by a scheduling pass, however many there are.
DROP INDEX jobs_runnable;
CREATE INDEX jobs_runnable ON jobs (priority DESC, id, not_before) WHERE state = 'queued' AND deps_unmet = 0;
