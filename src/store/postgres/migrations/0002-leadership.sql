-- 0002-leadership: the control plane's leader lease; the same table as the SQLite store's 0002-leadership.sql.
--
-- One row. `term` grows by one each time leadership changes hands or is taken again after its lease
-- ran out; every write a leader makes as leader carries its term and locks this row FOR SHARE to
-- check it, so a takeover (which updates the row) waits for such a write to commit, and a write
-- with a term that is not the current one is refused (fencing). Times are the replicas' clocks.
CREATE TABLE leadership (
  id         integer          PRIMARY KEY CHECK (id = 1),
  holder     text             NOT NULL,
  url        text,
  term       bigint           NOT NULL,
  since      double precision NOT NULL,
  renewed_at double precision NOT NULL,
  expires_at double precision NOT NULL
);
