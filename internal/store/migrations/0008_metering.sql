-- Metering records: what marketbridge reports to the marketplace, one per
-- (subscription, dimension, closed hour). The quantity is fixed when the
-- record is made, so a resend after a crash or a timeout is the identical
-- record AWS treats as idempotent; the unique key makes a second record for
-- the same hour impossible, whichever process tries.
CREATE TABLE metering_records (
    id {{id}},
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id),
    product_code TEXT NOT NULL,
    dimension TEXT NOT NULL,
    hour {{time}} NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity >= 0),
    -- pending: to send; accepted: AWS took it (metering_record_id);
    -- not-subscribed: AWS refused it for good; carried: it could no longer be
    -- sent inside AWS's timestamp window, so its quantity moves into the next
    -- record instead (never dropped); conflict: AWS holds another quantity for
    -- that hour (DuplicateRecord), which an operator must look at; rejected:
    -- AWS refused the record itself (a license outside its activation period,
    -- an unknown dimension), also for an operator.
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'not-subscribed', 'carried', 'conflict', 'rejected')),
    metering_record_id TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    lease_until {{time}},
    claimed_by TEXT NOT NULL DEFAULT '',
    created_at {{time}} NOT NULL,
    sent_at {{time}},
    UNIQUE (subscription_id, dimension, hour)
);
CREATE INDEX metering_records_status ON metering_records (status, hour);
