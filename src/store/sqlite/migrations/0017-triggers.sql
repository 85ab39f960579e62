-- 0017-triggers: directory triggers of pipelines and the files they claimed (ADR 0018, core/trigger-spec.ts).
--
-- A file is claimed once: a claim row is written (by the leader, fenced) before the file is moved to the trigger's
-- .processing/ area, and the run started for it sets run_id in the run's own transaction, only while it is NULL.
-- So a crash at any point leaves either a claim without a run (the next leader starts it, from where the file is)
-- or a claim with its one run. A claim is settled once its run ended and the file was moved to done/ or failed/.
CREATE TABLE triggers (
  name       TEXT    PRIMARY KEY,
  -- The parsed TriggerSpec (JSON), every default filled in.
  spec       TEXT    NOT NULL,
  paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
  created_at REAL    NOT NULL
) STRICT;

CREATE TABLE trigger_claims (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  trigger    TEXT    NOT NULL,
  -- The file's name in the watched directory.
  file       TEXT    NOT NULL,
  claimed_at REAL    NOT NULL,
  run_id     INTEGER,
  settled    TEXT    CHECK (settled = 'done' OR settled = 'failed' OR settled = 'lost'),
  settled_at REAL
) STRICT;
CREATE INDEX trigger_claims_open ON trigger_claims (trigger, id) WHERE settled IS NULL;
CREATE INDEX trigger_claims_run ON trigger_claims (run_id) WHERE run_id IS NOT NULL;
