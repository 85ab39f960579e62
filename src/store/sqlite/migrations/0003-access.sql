-- 0003-access: API tokens with roles, the audit log of operator actions, and job ownership.
--
-- Tokens are stored as the SHA-256 (hex) of their plaintext, never the plaintext: the server finds a
-- token by its hash (an index lookup per request). A revoked token keeps its row (revoked_at set), so
-- the audit log and owned jobs still name it, and its name is free again for a new live token.
CREATE TABLE api_tokens (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role = 'admin' OR role = 'operator' OR role = 'submitter' OR role = 'viewer' OR role = 'agent'),
  token_hash   TEXT NOT NULL UNIQUE,
  created_at   REAL NOT NULL,
  revoked_at   REAL,
  -- Written at most once a minute per token, not per request.
  last_used_at REAL
) STRICT;

-- Names are unique among live tokens only.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Append-only: who did which operator action, when, to what, and how it ended (ok, denied, failed).
CREATE TABLE audit_log (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  at             REAL NOT NULL,
  -- The token's name, or 'local' (auth off, or a token created directly in the database).
  actor          TEXT NOT NULL,
  actor_token_id TEXT,
  role           TEXT,
  action         TEXT NOT NULL,
  target         TEXT NOT NULL,
  outcome        TEXT NOT NULL CHECK (outcome = 'ok' OR outcome = 'denied' OR outcome = 'failed'),
  detail         TEXT
) STRICT;

-- Listing by action, newest first (the primary key serves the unfiltered list).
CREATE INDEX audit_log_action_id ON audit_log (action, id);

-- The token that submitted a job (id, and its name for display); NULL for jobs submitted with auth off.
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN owner_token_id TEXT;
-- Partial: with auth off no job has an owner, and the index costs submit nothing.
CREATE INDEX jobs_owner ON jobs (owner_token_id, id) WHERE owner_token_id IS NOT NULL;
