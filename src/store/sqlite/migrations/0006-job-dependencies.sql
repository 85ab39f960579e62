-- 0006-job-dependencies: jobs that wait for other jobs (spec.dependsOn; core/dependencies.ts).
--
-- One row per (job, dependency). `met` turns 1 when the dependency succeeds, in the transaction of its
-- success, and stays 1 (success is final, so a dependency purged by retention later is still known to
-- have been met). No foreign key on depends_on: retention may purge a dependency before its dependents.
CREATE TABLE job_dependencies (
  job_id     INTEGER NOT NULL REFERENCES jobs (id),
  depends_on INTEGER NOT NULL,
  met        INTEGER NOT NULL DEFAULT 0 CHECK (met IN (0, 1)),
  PRIMARY KEY (job_id, depends_on)
) STRICT, WITHOUT ROWID;

-- A dependency's end finds the jobs still waiting for it; met edges are never looked up by dependency.
CREATE INDEX job_dependencies_waiting ON job_dependencies (depends_on) WHERE met = 0;

-- How many of a queued job's dependencies have not succeeded yet (kept by the transactions that end them).
ALTER TABLE jobs ADD COLUMN deps_unmet INTEGER NOT NULL DEFAULT 0;

-- The scheduler's queue holds only jobs waiting for nothing: a job waiting for its dependencies is never
-- read by a scheduling pass, however many there are.
DROP INDEX jobs_runnable;
CREATE INDEX jobs_runnable ON jobs (priority DESC, id, not_before) WHERE state = 'queued' AND deps_unmet = 0;
