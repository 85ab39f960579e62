-- 0009-event-feed: the event feed behind GET /v1/events; the same table as the PostgreSQL store's 0009-event-feed.sql.
--
-- One row per event, written by the triggers below in the same transaction as the change it describes, so an
-- event exists exactly when its change committed. `id` is AUTOINCREMENT: never reused, and since SQLite has one
-- writer at a time, ids grow in commit order, so a reader that has seen id N has seen every event up to N.
--
-- A job transition (job.state, the bulk of the feed) is copied from its job_events row as plain columns; what does
-- not change in a job's life (its name, queue, labels, owner, and the node and devices of each attempt) is joined
-- in when the feed is read (feed-queries.ts), which keeps the write to one narrow row. Other events keep their
-- fields in `data` (core/feed-events.ts, without id, at and type); job.idle also names its job.
CREATE TABLE events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  at         REAL    NOT NULL,
  type       TEXT    NOT NULL,
  job_id     INTEGER,
  attempt    INTEGER,
  from_state TEXT,
  to_state   TEXT,
  reason     TEXT,
  data       TEXT
) STRICT;

-- A job's events (job=ID), without reading the rest of the feed.
CREATE INDEX events_job ON events (job_id, id) WHERE job_id IS NOT NULL;

-- The largest id retention has removed: a reader resuming at or below it may have missed events (a `resync`).
CREATE TABLE event_feed_state (
  id             INTEGER PRIMARY KEY CHECK (id = 1),
  purged_through INTEGER NOT NULL
) STRICT;
INSERT INTO event_feed_state (id, purged_through) VALUES (1, 0);

-- Job transitions carry the time the store was given; node and device changes, whose statements carry none
-- (a node marked down), the wall clock: (julianday('now') - 2440587.5) * 86400000.0 is ms since the epoch.

-- job.state: every recorded job transition.
CREATE TRIGGER job_events_feed AFTER INSERT ON job_events
BEGIN
  INSERT INTO events (at, type, job_id, attempt, from_state, to_state, reason)
  VALUES (NEW.at, 'job.state', NEW.job_id, NEW.attempt, NEW.from_state, NEW.to_state, NEW.reason);
END;

-- node.state: a node registered (or its agent restarted: a new incarnation), went down, or came back up.
CREATE TRIGGER nodes_registered_feed AFTER INSERT ON nodes
BEGIN
  INSERT INTO events (at, type, data) VALUES ((julianday('now') - 2440587.5) * 86400000.0, 'node.state',
    json_object('nodeId', NEW.id, 'hostname', NEW.hostname, 'state', NEW.state));
END;
CREATE TRIGGER nodes_state_feed AFTER UPDATE OF state, incarnation ON nodes
WHEN OLD.state IS NOT NEW.state OR OLD.incarnation IS NOT NEW.incarnation
BEGIN
  INSERT INTO events (at, type, data) VALUES ((julianday('now') - 2440587.5) * 86400000.0, 'node.state',
    json_object('nodeId', NEW.id, 'hostname', NEW.hostname, 'state', NEW.state));
END;

-- node.admin: the operator cordoned, drained or uncordoned a node.
CREATE TRIGGER nodes_admin_feed AFTER UPDATE OF admin_state ON nodes
WHEN OLD.admin_state IS NOT NEW.admin_state
BEGIN
  INSERT INTO events (at, type, data) VALUES ((julianday('now') - 2440587.5) * 86400000.0, 'node.admin',
    json_object('nodeId', NEW.id, 'adminState', NEW.admin_state));
END;

-- device.health: a device's health as its agent's registration reports it changed (devices are replaced at each
-- registration, so the last health seen of each device is kept apart). A new device is news only when unhealthy.
CREATE TABLE device_health_seen (
  node_id      TEXT    NOT NULL,
  device_index INTEGER NOT NULL,
  healthy      INTEGER NOT NULL,
  PRIMARY KEY (node_id, device_index)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER devices_health_feed AFTER INSERT ON devices
BEGIN
  INSERT INTO events (at, type, data)
  SELECT (julianday('now') - 2440587.5) * 86400000.0, 'device.health',
    json_object('nodeId', NEW.node_id, 'index', NEW.device_index, 'uuid', NEW.uuid, 'healthy', CASE WHEN NEW.healthy = 1 THEN json('true') ELSE json('false') END)
  WHERE NEW.healthy IS NOT coalesce((SELECT healthy FROM device_health_seen WHERE node_id = NEW.node_id AND device_index = NEW.device_index), 1);
  INSERT INTO device_health_seen (node_id, device_index, healthy) VALUES (NEW.node_id, NEW.device_index, NEW.healthy)
    ON CONFLICT (node_id, device_index) DO UPDATE SET healthy = excluded.healthy;
END;

-- maintenance: drain or normal, when it changes.
CREATE TRIGGER maintenance_set_feed AFTER INSERT ON settings
WHEN NEW.key = 'maintenance_mode'
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.updated_at, 'maintenance', json_object('mode', NEW.value));
END;
CREATE TRIGGER maintenance_change_feed AFTER UPDATE OF value ON settings
WHEN NEW.key = 'maintenance_mode' AND OLD.value IS NOT NEW.value
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.updated_at, 'maintenance', json_object('mode', NEW.value));
END;

-- leader: a new term (an election or a takeover); renewals are not events.
CREATE TRIGGER leadership_taken_feed AFTER INSERT ON leadership
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.since, 'leader', json_object('holder', NEW.holder, 'term', NEW.term, 'url', NEW.url));
END;
CREATE TRIGGER leadership_change_feed AFTER UPDATE OF term, holder ON leadership
WHEN OLD.term IS NOT NEW.term OR OLD.holder IS NOT NEW.holder
BEGIN
  INSERT INTO events (at, type, data) VALUES (NEW.since, 'leader', json_object('holder', NEW.holder, 'term', NEW.term, 'url', NEW.url));
END;
