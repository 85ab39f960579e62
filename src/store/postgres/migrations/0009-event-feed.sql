-- 0009-event-feed: the event feed behind GET /v1/events; the same table as the SQLite store's 0009-event-feed.sql.
--
-- One row per event, written in the same transaction as the change it describes. Readers resume after the last
-- id they saw, so ids must grow in COMMIT order, which a sequence does not give (a transaction may take id 10,
-- commit after one that took 11, and a reader that saw 11 would skip 10). So changes do not write `events`
-- directly: triggers stage them (gpuq_stage_event, or set-based for job transitions) in `events_staged`, tagged
-- with their transaction, and mark the transaction in `events_commits`. A constraint trigger on that mark,
-- deferred to COMMIT, gives the transaction's events their ids by advancing the one row of `event_feed_state`:
-- its row lock is held until the commit, so the next transaction's ids are taken only after this one is visible.
-- Only the last moment of event-writing transactions is serialized (their other work runs concurrently), and
-- transactions that write no event never touch the row. The same trigger sends the store-event hint `feed`
-- (notifications.ts), which NOTIFY delivers at commit.
--
-- A job transition (job.state, the bulk of the feed) is copied from its job_events row as plain columns; what does
-- not change in a job's life (its name, queue, labels, owner, and the node and devices of each attempt) is joined
-- in when the feed is read (feed-queries.ts). Other events keep their fields in `data` (core/feed-events.ts,
-- without id, at and type); job.idle also names its job.
CREATE TABLE events (
  id         bigint           PRIMARY KEY,
  at         double precision NOT NULL,
  type       text             NOT NULL,
  job_id     bigint,
  attempt    integer,
  from_state text,
  to_state   text,
  reason     text,
  data       jsonb
);

-- A job's events (job=ID), without reading the rest of the feed.
CREATE INDEX events_job ON events (job_id, id) WHERE job_id IS NOT NULL;

-- last_id: the largest id given; purged_through: the largest id retention has removed (a reader resuming at or
-- below it may have missed events: a `resync`).
CREATE TABLE event_feed_state (
  id             integer PRIMARY KEY CHECK (id = 1),
  last_id        bigint  NOT NULL,
  purged_through bigint  NOT NULL
);
INSERT INTO event_feed_state (id, last_id, purged_through) VALUES (1, 0, 0);

CREATE TABLE events_staged (
  tx         xid8             NOT NULL DEFAULT pg_current_xact_id(),
  seq        bigint           GENERATED ALWAYS AS IDENTITY,
  at         double precision NOT NULL,
  type       text             NOT NULL,
  job_id     bigint,
  attempt    integer,
  from_state text,
  to_state   text,
  reason     text,
  data       jsonb
);
CREATE INDEX events_staged_tx ON events_staged (tx, seq);

CREATE TABLE events_commits (
  tx xid8 PRIMARY KEY
);

-- Marks the current transaction as one whose staged events need ids at COMMIT (once per transaction).
CREATE FUNCTION gpuq_mark_events() RETURNS void LANGUAGE sql AS $$
  INSERT INTO events_commits (tx) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
$$;

-- Stages one event (not a job transition) of the current transaction. For other migrations' triggers too.
CREATE FUNCTION gpuq_stage_event(p_at double precision, p_type text, p_job_id bigint, p_data jsonb) RETURNS void LANGUAGE sql AS $$
  INSERT INTO events_staged (at, type, job_id, data) VALUES (p_at, p_type, p_job_id, p_data);
  SELECT gpuq_mark_events();
$$;

-- The wall clock in ms since the epoch, for changes whose statements carry no time (a node marked down).
CREATE FUNCTION gpuq_now_ms() RETURNS double precision LANGUAGE sql AS $$
  SELECT extract(epoch FROM clock_timestamp()) * 1000.0;
$$;

-- At COMMIT: the transaction's staged events get the next ids, in the order they were staged.
CREATE FUNCTION gpuq_sequence_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  n    bigint;
  head bigint;
BEGIN
  SELECT count(*) INTO n FROM events_staged WHERE tx = NEW.tx;
  IF n > 0 THEN
    UPDATE event_feed_state SET last_id = last_id + n WHERE id = 1 RETURNING last_id INTO head;
    INSERT INTO events (id, at, type, job_id, attempt, from_state, to_state, reason, data)
    SELECT head - n + row_number() OVER (ORDER BY seq), at, type, job_id, attempt, from_state, to_state, reason, data
    FROM events_staged WHERE tx = NEW.tx;
    DELETE FROM events_staged WHERE tx = NEW.tx;
    PERFORM pg_notify(left('gpuq_events_' || current_schema(), 63), '{"type":"feed"}');
  END IF;
  DELETE FROM events_commits WHERE tx = NEW.tx;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER events_commits_sequence AFTER INSERT ON events_commits
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gpuq_sequence_events();

-- job.state: every recorded job transition. Set-based: a batch of transitions stages its events in one statement.
CREATE FUNCTION gpuq_job_events_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO events_staged (at, type, job_id, attempt, from_state, to_state, reason)
  SELECT e.at, 'job.state', e.job_id, e.attempt, e.from_state, e.to_state, e.reason
  FROM new_rows e ORDER BY e.id;
  IF FOUND THEN PERFORM gpuq_mark_events(); END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER job_events_feed AFTER INSERT ON job_events
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gpuq_job_events_feed();

-- node.state: a node registered (or its agent restarted: a new incarnation), went down, or came back up.
-- node.admin: the operator cordoned, drained or uncordoned a node.
CREATE FUNCTION gpuq_nodes_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR OLD.state IS DISTINCT FROM NEW.state OR OLD.incarnation IS DISTINCT FROM NEW.incarnation THEN
    PERFORM gpuq_stage_event(gpuq_now_ms(), 'node.state', NULL,
      jsonb_build_object('nodeId', NEW.id, 'hostname', NEW.hostname, 'state', NEW.state));
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.admin_state IS DISTINCT FROM NEW.admin_state THEN
    PERFORM gpuq_stage_event(gpuq_now_ms(), 'node.admin', NULL,
      jsonb_build_object('nodeId', NEW.id, 'adminState', NEW.admin_state));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER nodes_feed AFTER INSERT OR UPDATE OF state, incarnation, admin_state ON nodes
  FOR EACH ROW EXECUTE FUNCTION gpuq_nodes_feed();

-- device.health: a device's health as its agent's registration reports it changed (devices are replaced at each
-- registration, so the last health seen of each device is kept apart). A new device is news only when unhealthy.
CREATE TABLE device_health_seen (
  node_id      text COLLATE "C" NOT NULL,
  device_index integer          NOT NULL,
  healthy      boolean          NOT NULL,
  PRIMARY KEY (node_id, device_index)
);
CREATE FUNCTION gpuq_devices_feed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  seen boolean;
BEGIN
  SELECT healthy INTO seen FROM device_health_seen WHERE node_id = NEW.node_id AND device_index = NEW.device_index;
  IF NEW.healthy IS DISTINCT FROM coalesce(seen, true) THEN
    PERFORM gpuq_stage_event(gpuq_now_ms(), 'device.health', NULL,
      jsonb_build_object('nodeId', NEW.node_id, 'index', NEW.device_index, 'uuid', NEW.uuid, 'healthy', NEW.healthy));
  END IF;
  INSERT INTO device_health_seen (node_id, device_index, healthy) VALUES (NEW.node_id, NEW.device_index, NEW.healthy)
    ON CONFLICT (node_id, device_index) DO UPDATE SET healthy = excluded.healthy;
  RETURN NULL;
END;
$$;
CREATE TRIGGER devices_health_feed AFTER INSERT ON devices
  FOR EACH ROW EXECUTE FUNCTION gpuq_devices_feed();

-- maintenance: drain or normal, when it changes.
CREATE FUNCTION gpuq_maintenance_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR OLD.value IS DISTINCT FROM NEW.value THEN
    PERFORM gpuq_stage_event(NEW.updated_at, 'maintenance', NULL, jsonb_build_object('mode', NEW.value));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER maintenance_feed AFTER INSERT OR UPDATE OF value ON settings
  FOR EACH ROW WHEN (NEW.key = 'maintenance_mode') EXECUTE FUNCTION gpuq_maintenance_feed();

-- leader: a new term (an election or a takeover); renewals are not events.
CREATE FUNCTION gpuq_leadership_feed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR OLD.term IS DISTINCT FROM NEW.term OR OLD.holder IS DISTINCT FROM NEW.holder THEN
    PERFORM gpuq_stage_event(NEW.since, 'leader', NULL,
      jsonb_build_object('holder', NEW.holder, 'term', NEW.term, 'url', NEW.url));
  END IF;
  RETURN NULL;
END;
$$;
CREATE TRIGGER leadership_feed AFTER INSERT OR UPDATE OF term, holder ON leadership
  FOR EACH ROW EXECUTE FUNCTION gpuq_leadership_feed();
