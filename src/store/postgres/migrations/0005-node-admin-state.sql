-- 0005-node-admin-state: the operator's say over new work on a node (gpuq node cordon|drain|uncordon); the
-- same column as the SQLite store's 0005-node-admin-state.sql
--
-- 'active' takes new attempts; 'cordoned' and 'draining' take none (running attempts go on; 'draining' also
-- asks the API to report when the node is empty). Apart from 'state' (up/down, which heartbeats decide):
-- an agent's registration never writes this column, so a cordon outlives agent restarts.
ALTER TABLE nodes ADD COLUMN admin_state text NOT NULL DEFAULT 'active'
  CHECK (admin_state IN ('active', 'cordoned', 'draining'));
