-- The sender claims the oldest pending records in (hour, id) order, 25 at a
-- time. An index on (status, hour) alone does not give that order on
-- PostgreSQL (a whole hour's records share the key), so each claim read and
-- sorted every pending record: with 100,000 subscriptions, half a second a
-- claim. Ending the key with id lets both engines walk the index in claim
-- order and stop at the 25th row. It serves every query the old index
-- served, which therefore goes (on SQLite the two were the same index, as
-- the rowid ends every key).
CREATE INDEX metering_records_claim ON metering_records (status, hour, id);
DROP INDEX metering_records_status;
