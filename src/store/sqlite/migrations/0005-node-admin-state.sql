-- 0005-node-admin-state: the operator's say over new work on a node (gpuq node cordon|drain|uncordon)
--
-- 'active' takes new attempts; 'cordoned' and 'draining' take none (running attempts go on; 'draining' also
-- asks the API to report when the node is empty). Apart from 'state' (up/down, which heartbeats decide):
-- an agent's registration never writes this column, so a cordon outlives agent restarts.
ALTER TABLE nodes ADD COLUMN admin_state TEXT NOT NULL DEFAULT 'active'
  CHECK (admin_state IN ('active', 'cordoned', 'draining'));
