-- 0019-pipeline-pool-steps: pipeline steps run as tasks of warm worker pools, runs started from broker messages
-- (once per message key, with their source), the run's owner kept whole, and a feed event at each run's end
-- (ADR 0018).
--
-- A pool step's tasks are ordinary rows of pool_tasks (migration 0013); pipeline_run_tasks says which task is
-- which step and lane of a run. A task has no dependsOn: the leader creates it (and the jobs after it) once what it
-- reads has succeeded, so a run's units are created in stages, each stage in one transaction.
CREATE TABLE pipeline_run_tasks (
  run_id  INTEGER NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  step    INTEGER NOT NULL,
  lane    INTEGER NOT NULL,
  pool    TEXT    NOT NULL,
  task_id INTEGER NOT NULL,
  PRIMARY KEY (run_id, step, lane)
) STRICT;

-- Units created after the run (stages after a pool step) are owned like the first: by the run's owner.
ALTER TABLE pipeline_runs ADD COLUMN owner_token_id TEXT;
-- A run started from a broker message: the message's key, so a redelivered message never starts a second run.
ALTER TABLE pipeline_runs ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX pipeline_runs_idempotency_key ON pipeline_runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
-- The broker intake source whose message started the run (ADR 0017); NULL for runs started otherwise.
ALTER TABLE pipeline_runs ADD COLUMN source TEXT;

-- pipeline.run.ended (core/feed-events.ts): a run left `running`, with what result sinks publish of it.
CREATE TRIGGER pipeline_runs_ended_feed AFTER UPDATE OF state ON pipeline_runs
WHEN OLD.state = 'running' AND NEW.state IS NOT 'running'
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.ended_at, 'pipeline.run.ended', json_object('run', NEW.id, 'pipeline', NEW.pipeline, 'state', NEW.state,
    'reason', NEW.reason, 'source', NEW.source, 'outputs', json(NEW.outputs), 'onFailureJobId', NEW.on_failure_job_id));
END;
