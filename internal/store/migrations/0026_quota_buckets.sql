-- Issue 13: AWS quotas are per seller account, however many processes call.
-- A quota bucket is one such quota (BatchMeterUsage, GetEntitlements) that
-- every process on this database shares. tat_micros is the bucket's
-- "theoretical arrival time" (GCRA): the end of the last slot handed out, in
-- microseconds since the Unix epoch on the database's clock. A process
-- reserves slots in a short transaction that moves it forward; nothing else
-- is kept, so a process that dies leaves nothing to clean up.
CREATE TABLE quota_buckets (
    name TEXT PRIMARY KEY,
    tat_micros BIGINT NOT NULL
);
