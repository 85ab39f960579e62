-- 0014-node-host-memory: each node's host memory as its agent last reported it with a heartbeat
-- (MemTotal and MemAvailable of /proc/meminfo), and when. The pool controller evicts pool replicas from a
-- node whose available memory falls under gpuq up --memory-pressure-pct (core/pool-eviction.ts).
-- NULL until the node's first report; a registration never writes them.
ALTER TABLE nodes ADD COLUMN host_memory_total_mb     INTEGER;
ALTER TABLE nodes ADD COLUMN host_memory_available_mb INTEGER;
ALTER TABLE nodes ADD COLUMN host_memory_at           REAL;
