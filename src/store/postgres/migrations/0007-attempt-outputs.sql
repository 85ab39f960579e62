-- 0007-attempt-outputs: what an attempt left besides its log (core/job-output.ts): its JSON result and the
-- list of its artifact files, as its agent reported them with the attempt's end and recorded in the same
-- transaction; the same table as the SQLite store's 0007-attempt-outputs.sql. The files stay on the agent's disk.
CREATE TABLE attempt_outputs (
  attempt_id bigint  PRIMARY KEY REFERENCES attempts (id),
  job_id     bigint  NOT NULL,
  -- The attempt's number within its job, copied so "the job's latest output" is one index lookup.
  number     integer NOT NULL,
  -- The JSON text the job wrote to its result file (trimmed), NULL when it left none that could be kept.
  -- json, not jsonb: kept exactly as written (key order, number spelling), only stored and read back.
  result     json,
  -- Why a result was not kept or artifacts were left out of the list.
  note       text,
  -- [{"name", "bytes"}]: the regular files of the artifacts directory.
  artifacts  json    NOT NULL
);

CREATE INDEX attempt_outputs_job ON attempt_outputs (job_id, number);
