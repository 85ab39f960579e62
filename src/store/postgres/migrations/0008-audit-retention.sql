-- 0008-audit-retention: the audit log is purged after its retention period (gpuq up --audit-retention-days);
-- the purge finds old entries by time.
CREATE INDEX audit_log_at ON audit_log (at);
