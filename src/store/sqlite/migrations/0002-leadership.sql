-- 0002-leadership: the control plane's leader lease (cluster mode; an embedded server is its own leader).
--
-- One row. `term` grows by one each time leadership changes hands or is taken again after its lease
-- ran out; every write a leader makes as leader carries its term, and the store refuses a term that is
-- not the current one (fencing): a leader that was paused and wakes up after another took over can
-- change nothing. Times are the replicas' clocks, in ms since the epoch.
CREATE TABLE leadership (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  holder     TEXT    NOT NULL,
  url        TEXT,
  term       INTEGER NOT NULL,
  since      REAL    NOT NULL,
  renewed_at REAL    NOT NULL,
  expires_at REAL    NOT NULL
) STRICT;
