-- Marketplace notifications (SNS and EventBridge), stored before they are
-- acted on and deduplicated by their id, so that a crash between receipt and
-- effect loses nothing and a redelivery changes nothing.
CREATE TABLE notifications (
    id {{id}},
    source TEXT NOT NULL CHECK (source IN ('sns', 'eventbridge')),
    message_id TEXT NOT NULL,
    action TEXT NOT NULL,                 -- subscribe-success, unsubscribe-pending, ... (normalised)
    product_code TEXT NOT NULL DEFAULT '',
    customer_aws_account_id TEXT NOT NULL DEFAULT '',
    customer_identifier TEXT NOT NULL DEFAULT '',
    license_arn TEXT NOT NULL DEFAULT '',
    offer_id TEXT NOT NULL DEFAULT '',
    free_trial BOOLEAN NOT NULL DEFAULT FALSE,
    sent_at {{time}} NOT NULL,            -- when the marketplace says it happened; orders the effects
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'waiting', 'applied', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    received_at {{time}} NOT NULL,
    applied_at {{time}},
    UNIQUE (source, message_id)
);
CREATE INDEX notifications_status ON notifications (status, id);

-- The subscription's lifecycle as the notifications tell it. status_at is the
-- time of the event that set status: an older event arriving late does not
-- overwrite a newer one, so reordered deliveries converge.
ALTER TABLE subscriptions ADD COLUMN status_at {{time}};
ALTER TABLE subscriptions ADD COLUMN final_metering_by {{time}};
ALTER TABLE subscriptions ADD COLUMN cancelled_at {{time}};
