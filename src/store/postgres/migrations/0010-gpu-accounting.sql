-- 0010-gpu-accounting: what each GPU of an attempt did (core/gpu-usage.ts) and the idle flag of running attempts;
-- the same tables as the SQLite store's 0010-gpu-accounting.sql.
--
-- One row per GPU of an attempt, as its agent folded the device's telemetry: written while the attempt runs (its
-- live figures, with the agent's telemetry) and for good with the attempt's end, in the same transaction.
-- Removed with the attempt (retention purges a job's attempts).
CREATE TABLE attempt_gpu_usage (
  attempt_id           bigint           NOT NULL REFERENCES attempts (id) ON DELETE CASCADE,
  device_index         integer          NOT NULL,
  -- The attempt's run time: the GPU was held for it whatever it did.
  gpu_seconds          double precision NOT NULL,
  -- Time-weighted over the samples (each holds until the next); NULL when no sample had a utilization.
  mean_utilization_pct double precision,
  peak_utilization_pct double precision,
  peak_memory_mb       double precision,
  -- Time under the idle utilization (gpuq up --idle-utilization-pct).
  idle_seconds         double precision NOT NULL,
  samples              integer          NOT NULL,
  PRIMARY KEY (attempt_id, device_index)
);

-- Since when all the attempt's GPUs have been under the idle utilization, while it has lasted the idle time
-- (gpuq up --idle-minutes); NULL when not flagged. Kept after the attempt ends (it ended idle).
ALTER TABLE attempts ADD COLUMN idle_since double precision;
-- When the flag last changed (set or cleared): the time of its job.idle event.
ALTER TABLE attempts ADD COLUMN idle_changed_at double precision;

-- Running attempts flagged idle (the gpuq_attempts_idle gauge), found without a scan.
CREATE INDEX attempts_idle ON attempts (id) WHERE idle_since IS NOT NULL AND state IN ('assigned', 'running');

-- job.idle: a running attempt's GPUs were flagged idle, or the flag cleared (core/feed-events.ts).
CREATE FUNCTION gpuq_attempts_idle_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM gpuq_stage_event(coalesce(NEW.idle_changed_at, gpuq_now_ms()), 'job.idle', NEW.job_id, jsonb_build_object(
    'attemptId', NEW.id, 'nodeId', NEW.node_id, 'devices', NEW.devices, 'idle', NEW.idle_since IS NOT NULL));
  RETURN NULL;
END;
$$;
CREATE TRIGGER attempts_idle_feed AFTER UPDATE OF idle_since ON attempts
  FOR EACH ROW WHEN ((OLD.idle_since IS NULL) <> (NEW.idle_since IS NULL)) EXECUTE FUNCTION gpuq_attempts_idle_feed();
