-- 0017-triggers: directory triggers of pipelines and the files they claimed (ADR 0018); the same tables as the
-- SQLite store's 0017-triggers.sql. A claim row is written (fenced) before its file is moved; the run started for
-- it sets run_id in the run's own transaction, only while it is NULL: one run per claimed file, whatever crashes.
CREATE TABLE triggers (
  name       text COLLATE "C" PRIMARY KEY,
  spec       json             NOT NULL,
  paused     boolean          NOT NULL DEFAULT false,
  created_at double precision NOT NULL
);

CREATE TABLE trigger_claims (
  id         bigserial        PRIMARY KEY,
  trigger    text COLLATE "C" NOT NULL,
  file       text             NOT NULL,
  claimed_at double precision NOT NULL,
  run_id     bigint,
  settled    text             CHECK (settled IN ('done', 'failed', 'lost')),
  settled_at double precision
);
CREATE INDEX trigger_claims_open ON trigger_claims (trigger, id) WHERE settled IS NULL;
CREATE INDEX trigger_claims_run ON trigger_claims (run_id) WHERE run_id IS NOT NULL;
