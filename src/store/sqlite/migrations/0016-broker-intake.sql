-- 0016-broker-intake: broker intake's durable state (ADR 0017). A row per paused source (name), and the emergency
-- stop of every source as the row named '*'; a source is consuming when neither its row nor '*' exists. A sink's
-- cursor is the last event feed id (migration 0009) whose final state it published: after a crash it publishes
-- again from there (at least once).
CREATE TABLE intake_pauses (
  name      TEXT PRIMARY KEY,
  paused_at REAL NOT NULL
) STRICT;

CREATE TABLE intake_sink_cursors (
  sink         TEXT PRIMARY KEY,
  last_feed_id INTEGER NOT NULL,
  updated_at   REAL NOT NULL
) STRICT;
