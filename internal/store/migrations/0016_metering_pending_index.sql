-- Pending metering records are indexed by claim order alone, and only they
-- are. The index of 0013 on (status, hour, id) gave the claim its order, but
-- SQLite, knowing no better, also took it for an update of 25 records by id
-- that says status = 'pending' (the sender's take-off): that walked every
-- pending record, not 25 rowids, and made each call cost as much as the
-- backlog (2,000 records/s at 100,000 subscriptions, against 12,000). A
-- partial index offers the planner nothing to seek there, so such updates go
-- by id again, while the claim, the carry of expired records and the count
-- of pending ones read it in order. It is also smaller: settled records
-- leave it.
DROP INDEX metering_records_claim;
CREATE INDEX metering_records_pending ON metering_records (hour, id) WHERE status = 'pending';
