-- The sender claims pending records that carry money before zero-quantity
-- ones (#14): at AWS's quota of 10 calls of 25 records a second, 900,000
-- records an hour, a million subscriptions with zero-quantity hours make
-- more records than AWS takes inside its window, and what must go is money.
-- The claim of money reads this index in (hour, id) order and stops at the
-- 25th row, however many zero records wait; zero records are claimed, once
-- no money waits, through metering_records_pending of 0016. The predicate
-- is written as the claim query writes it, which SQLite needs to use it.
CREATE INDEX metering_records_pending_money ON metering_records (hour, id) WHERE status = 'pending' AND quantity > 0;
