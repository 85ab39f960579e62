-- 0016-broker-intake: broker intake's durable state (ADR 0017), the same tables as the SQLite store's
-- 0016-broker-intake.sql. A row per paused source (name), and the emergency stop of every source as the row
-- named '*'. A sink's cursor is the last event feed id whose final state it published (at least once).
CREATE TABLE intake_pauses (
  name      text PRIMARY KEY,
  paused_at double precision NOT NULL
);

CREATE TABLE intake_sink_cursors (
  sink         text PRIMARY KEY,
  last_feed_id bigint NOT NULL,
  updated_at   double precision NOT NULL
);
