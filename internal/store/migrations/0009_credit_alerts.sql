-- Usage alerts of committed credits (R15): one row per subscription and
-- threshold reached, so that each alert is mailed once, whichever process
-- notices first.
CREATE TABLE credit_alerts (
    subscription_id BIGINT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    threshold INTEGER NOT NULL,   -- percent of the committed credits: 50, 75 or 90
    sent_at {{time}} NOT NULL,
    PRIMARY KEY (subscription_id, threshold)
);
