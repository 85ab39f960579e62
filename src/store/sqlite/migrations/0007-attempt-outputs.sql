-- 0007-attempt-outputs: what an attempt left besides its log (core/job-output.ts): its JSON result and the
-- list of its artifact files, as its agent reported them with the attempt's end and recorded in the same
-- transaction. The files themselves stay on the agent's disk.
CREATE TABLE attempt_outputs (
  attempt_id INTEGER PRIMARY KEY REFERENCES attempts (id),
  job_id     INTEGER NOT NULL,
  -- The attempt's number within its job, copied so "the job's latest output" is one index lookup.
  number     INTEGER NOT NULL,
  -- The JSON text the job wrote to its result file (trimmed), NULL when it left none that could be kept.
  result     TEXT,
  -- Why a result was not kept or artifacts were left out of the list.
  note       TEXT,
  -- JSON array of {"name", "bytes"}: the regular files of the artifacts directory.
  artifacts  TEXT    NOT NULL
) STRICT;

CREATE INDEX attempt_outputs_job ON attempt_outputs (job_id, number);
