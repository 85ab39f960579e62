-- 0011-report-and-listing-indexes: indexes for the job listing's orders and the SLO report; the same indexes as the
-- SQLite store's 0011-report-and-listing-indexes.sql.

-- Job listing orders (GET /v1/jobs?sort=…, core/job-sort.ts): each key with id, the tie-break, so a page is read
-- from the cursor's (key, id) onwards in either direction. The id orders use the primary key and 0001's indexes.
CREATE INDEX jobs_priority_id ON jobs (priority, id);
CREATE INDEX jobs_created_id ON jobs (created_at, id);
CREATE INDEX jobs_updated_id ON jobs (updated_at, id);

-- SLO report (store/report-store.ts): each figure reads one range of one of these, covered, so a report over a
-- long range reads index entries only.
-- Jobs that finished in the range, by state, with their attempts (0001's jobs_finished leaves out the DLQ).
CREATE INDEX jobs_finished_report ON jobs (finished_at, state, queue, attempts) WHERE finished_at IS NOT NULL;
-- It also serves retention's search for finished jobs out of the DLQ (job-queries.ts), so 0001's jobs_finished, on
-- the same key, is one index fewer to keep up at every job's end.
DROP INDEX jobs_finished;
-- Queue wait: jobs whose first start is in the range (id: the percentiles' sample is by id).
CREATE INDEX jobs_started_report ON jobs (started_at, queue, created_at, id) WHERE started_at IS NOT NULL;
-- Run times and GPU usage: attempts that ended in the range (id, likewise).
CREATE INDEX attempts_ended_report ON attempts (ended_at, started_at, job_id, id) WHERE ended_at IS NOT NULL;
-- Retried jobs: retry attempts placed in the range.
CREATE INDEX attempts_retries_report ON attempts (assigned_at, job_id) WHERE number > 1;
-- DLQ inflow: failures in the range.
CREATE INDEX job_events_failed_report ON job_events (at, job_id) WHERE to_state = 'failed';
