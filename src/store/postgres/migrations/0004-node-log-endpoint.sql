-- 0004-node-log-endpoint: where a remote agent (`gpuq agent`) serves its attempts' logs; the same
-- columns as the SQLite store's 0004-node-log-endpoint.sql.
--
-- Set when the agent registers, replaced on each registration (its port and secret change with every
-- run), NULL for a node without a log server (the local agent of `gpuq up`, whose logs the server reads
-- from its own disk). Any server reads it to proxy a log, so it lives with the node, not in a server's
-- memory. The secret is the agent's per-run bearer secret for its log server, not an API token.
ALTER TABLE nodes ADD COLUMN log_url text;
ALTER TABLE nodes ADD COLUMN log_secret text;
