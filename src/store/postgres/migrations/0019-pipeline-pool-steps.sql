-- 0019-pipeline-pool-steps: pipeline steps run as tasks of warm worker pools, runs started from broker messages
-- (once per message key, with their source), the run's owner kept whole, and a feed event at each run's end
-- (ADR 0018); the same as the SQLite store's 0019-pipeline-pool-steps.sql.
CREATE TABLE pipeline_run_tasks (
  run_id  bigint           NOT NULL REFERENCES pipeline_runs (id) ON DELETE CASCADE,
  step    integer          NOT NULL,
  lane    integer          NOT NULL,
  pool    text COLLATE "C" NOT NULL,
  task_id bigint           NOT NULL,
  PRIMARY KEY (run_id, step, lane)
);

ALTER TABLE pipeline_runs ADD COLUMN owner_token_id text;
ALTER TABLE pipeline_runs ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX pipeline_runs_idempotency_key ON pipeline_runs (idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE pipeline_runs ADD COLUMN source text;

-- pipeline.run.ended (core/feed-events.ts): a run left `running`, with what result sinks publish of it.
CREATE FUNCTION gpuq_pipeline_runs_ended_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM gpuq_stage_event(NEW.ended_at, 'pipeline.run.ended', NULL, jsonb_build_object('run', NEW.id, 'pipeline', NEW.pipeline, 'state', NEW.state,
    'reason', NEW.reason, 'source', NEW.source, 'outputs', NEW.outputs::jsonb, 'onFailureJobId', NEW.on_failure_job_id));
  RETURN NULL;
END;
$$;
CREATE TRIGGER pipeline_runs_ended_feed AFTER UPDATE OF state ON pipeline_runs
  FOR EACH ROW WHEN (OLD.state = 'running' AND NEW.state <> 'running') EXECUTE FUNCTION gpuq_pipeline_runs_ended_feed();
