-- Bounds on usage totals, and metering hours that could not be rated (#11).
--
-- usage_meter_hourly is an organization's usage per meter and hour, every
-- subject together: what ingest checks its bounds against (internal/usage,
-- limits.go) and what rating reads. The bounds are per (organization, meter,
-- hour), whatever the number of subjects, so they are kept on one row that a
-- round of ingest reads and adds to, in the same transaction as the events
-- and usage_hourly (which it always equals, summed over subjects). Rating
-- then reads one row per meter and hour instead of one per subject.
--
-- Its key leads with (org_id, hour) so that ingest reads every meter of an
-- organization's hour with one range, for the hour's money bound.
CREATE TABLE usage_meter_hourly (
    org_id BIGINT NOT NULL,
    hour {{time}} NOT NULL,       -- start of the hour, UTC
    meter TEXT NOT NULL,
    -- micro-units. Ingest keeps it at most usage.MaxHourQuantity (10^18);
    -- the CHECK keeps SQLite from ever storing a sum that left int64 as a
    -- float. Rows above the bound exist only from before the bound: rating
    -- sets their hours aside (metering_failures) instead of billing them.
    quantity BIGINT NOT NULL CHECK (quantity >= 0 AND quantity <= 9223372036854775807),
    PRIMARY KEY (org_id, hour, meter)
);

-- The totals of the events accepted so far. Sums that went past int64
-- before the bound existed (accepted up to #11) are kept as the largest
-- int64, far above the bound, so that ingest refuses more usage for that hour
-- and rating sets it aside for an operator. The sum is taken in whole units
-- and millionths apart so that the statement itself cannot overflow.
INSERT INTO usage_meter_hourly (org_id, hour, meter, quantity)
SELECT org_id, hour, meter,
    CASE WHEN SUM(quantity / 1000000) >= 9000000000000 THEN 9223372036854775807
        ELSE SUM(quantity / 1000000) * 1000000 + SUM(quantity % 1000000) END
FROM usage_hourly GROUP BY org_id, hour, meter;

-- A subscription's hour whose usage could not be rated (its stored totals
-- are beyond the bounds, or unreadable). Metering leaves that hour's usage
-- out of every total it rates, so that the subscription's later hours and
-- every other subscription go on being metered, and lists the hour in the
-- operator view, with the reason.
CREATE TABLE metering_failures (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id),
    org_id BIGINT NOT NULL,       -- whose usage it is (the organization billed then)
    hour {{time}} NOT NULL,       -- the usage hour left out
    reason TEXT NOT NULL,
    failed_at {{time}} NOT NULL,
    PRIMARY KEY (subscription_id, hour)
);
