-- 0012-replicas: the control-plane servers sharing this store and when each was last seen; the same table as the
-- PostgreSQL store's 0012-replicas.sql.
--
-- Every server records itself at each step of the leader election (every --leader-renew-seconds), so the API and
-- the dashboard can show the replicas alive now beside the leader. Rows of servers not seen for an hour are
-- removed by the next server that records itself (a restarted server is a new replica: its id is new).
CREATE TABLE replicas (
  id           TEXT PRIMARY KEY,
  url          TEXT,
  started_at   REAL NOT NULL,
  last_seen_at REAL NOT NULL
) STRICT;
